import t from 'tap';
import { randomUUID } from 'node:crypto';
import { createTestDatabase } from '../helpers/db.js';
import { buildTestApp } from '../helpers/app.js';
import { PAT_PATTERN } from '../helpers/pats.js';
import { sha256 } from '../../src/infra/random.js';
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

t.test('tessera operator-token: marks the account an operator and prints an operator token, once, that works on /v1/admin/*', async (t) => {
  const id = randomUUID();
  const email = `ops-${id.slice(0, 8)}@example.com`;
  await database.db
    .insertInto('users')
    .values({ id, email, email_normalized: email, password_hash: 'not-a-hash', name: 'Ops', email_verified_at: new Date() })
    .execute();
  const res = await runCli(['operator-token', '--email', email.toUpperCase(), '--name', 'on-call', '--days', '30'], env);
  t.equal(res.code, 0, res.stderr);
  const printed = res.stdout.match(new RegExp(PAT_PATTERN.source, 'g')) ?? [];
  t.equal(printed.length, 1, 'the secret is printed once');
  const token = printed[0]!;
  t.equal(res.stdout.trim().split('\n').at(-1), token, 'alone on the last line, for scripts');
  t.notMatch(res.stderr, /tsr_pat_/);

  const user = await database.db.selectFrom('users').select('is_operator').where('id', '=', id).executeTakeFirstOrThrow();
  t.equal(user.is_operator, true);
  const row = await database.db.selectFrom('pats').selectAll().where('user_id', '=', id).executeTakeFirstOrThrow();
  t.match(row, { org_id: null, scopes: ['admin'], name: 'on-call' });
  t.ok(row.token_hash.equals(sha256(token)), 'the hash is stored, not the secret');
  t.equal(Math.round((row.expires_at.getTime() - row.created_at.getTime()) / 86_400_000), 30);
  const event = await database.db
    .selectFrom('audit_events')
    .selectAll()
    .where('action', '=', 'pat.created')
    .where('target_id', '=', row.id)
    .executeTakeFirstOrThrow();
  t.equal(event.actor_id, id);
  t.notOk(JSON.stringify(event.data).includes(token.slice(12)), 'the audit event does not hold it');

  // A server on the same database takes it.
  const ctx = await buildTestApp(t, { shareDb: { db: database.db, url: database.url } });
  const revoke = await ctx.app.inject({
    method: 'POST',
    url: `/v1/admin/users/${id}/sessions/revoke-all`,
    headers: { authorization: `Bearer ${token}` },
  });
  t.equal(revoke.statusCode, 200, revoke.body);
  // The operator signed their own account out: their own operator token is the one token revoked.
  t.same(revoke.json(), { revoked: 0, tokens_revoked: 1 });
  const after = await ctx.app.inject({ method: 'POST', url: '/v1/admin/keys/rotate', headers: { authorization: `Bearer ${token}` } });
  t.equal(after.statusCode, 401, 'and it no longer works');

  const unknown = await runCli(['operator-token', '--email', 'nobody@example.com'], env);
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /no account has the address nobody@example.com/);
  t.notMatch(unknown.stdout, /tsr_pat_/);
  for (const args of [
    ['operator-token'],
    ['operator-token', '--email'],
    ['operator-token', '--email', email, '--days', 'soon'],
    ['operator-token', '--mail', email],
  ]) {
    const bad = await runCli(args, env);
    t.equal(bad.code, 64, args.join(' '));
    t.match(bad.stderr, /tessera operator-token --email/);
  }
  const tooLong = await runCli(['operator-token', '--email', email, '--days', '366'], env);
  t.equal(tooLong.code, 1);
  t.match(tooLong.stderr, /--days must be 1-365/);
});
