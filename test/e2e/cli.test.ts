import t from 'tap';
import { createTestDatabase } from '../helpers/db.js';
import { TEST_KEYS, runCli } from './process.js';

// The operator commands need the database and the encryption keys, and nothing of the server's
// mail or Redis settings: no SMTP_URL, no MAIL_TO_LOG here.
const database = await createTestDatabase();
t.teardown(() => database.drop());
const env = { DATABASE_URL: database.url, TESSERA_ENCRYPTION_KEYS: TEST_KEYS };
const keys = () => database.db.selectFrom('signing_keys').selectAll().orderBy('created_at').execute();

t.test('tessera migrate runs with DATABASE_URL and TESSERA_ENCRYPTION_KEYS only', async (t) => {
  const res = await runCli(['migrate'], env);
  t.equal(res.code, 0, res.stderr);
  t.match(res.stdout, /database is up to date/);
});

t.test('tessera keys rotate without mail settings: the first key signs at once, the next is scheduled', async (t) => {
  const first = await runCli(['keys', 'rotate'], env);
  t.equal(first.code, 0, first.stderr);
  t.notMatch(first.stderr, /SMTP_URL/);
  let rows = await keys();
  t.equal(rows.length, 1, 'a key in an empty table');
  t.match(first.stdout, new RegExp(`new signing key: ${rows[0]!.kid}, signing now`));
  t.ok(rows[0]!.activates_at.getTime() <= Date.now(), 'nothing to announce it before: it signs now');

  const second = await runCli(['keys', 'rotate'], env);
  t.equal(second.code, 0, second.stderr);
  rows = await keys();
  t.equal(rows.length, 2);
  const next = rows[1]!;
  t.match(second.stdout, new RegExp(`new signing key: ${next.kid}, published now, signing from ${next.activates_at.toISOString()}`));
  const lead = (next.activates_at.getTime() - next.created_at.getTime()) / 1000;
  t.ok(lead >= 300 + 60 + 60, `the next key signs ${lead} s after it was published (max-age + stale-while-revalidate + a margin)`);
  t.same(rows[0]!.retired_at, next.activates_at, 'the current key stops when the next one starts');

  const third = await runCli(['keys', 'rotate'], env);
  t.equal(third.code, 0, third.stderr);
  t.match(third.stdout, new RegExp(`already scheduled: key ${next.kid}`));
  t.equal((await keys()).length, 2, 'no third key while one is pending');
});

t.test('tessera keys rotate --now: the emergency switch for a compromised key', async (t) => {
  const res = await runCli(['keys', 'rotate', '--now'], env);
  t.equal(res.code, 0, res.stderr);
  const rows = await keys();
  t.equal(rows.length, 3);
  const newest = rows[2]!;
  t.match(res.stdout, new RegExp(`new signing key: ${newest.kid}, signing now`));
  t.ok(newest.activates_at.getTime() <= Date.now());
  for (const old of rows.slice(0, 2)) t.ok(old.retired_at && old.retired_at.getTime() <= Date.now(), `${old.kid} signs no more`);
});

t.test('an unknown command prints the usage and exits 64', async (t) => {
  const res = await runCli(['keys', 'rotate', '--later'], env);
  t.equal(res.code, 64);
  t.match(res.stderr, /usage: tessera migrate/);
});
