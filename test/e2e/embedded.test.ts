import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { freePort } from '../../src/infra/net.js';
import { GOOD_PASSWORD, TEST_KEYS, uniqueEmail } from '../helpers/app.js';
import { eventually } from '../helpers/eventually.js';
import { exitWithin, http, processCommandLines, sleep, spawnServer, waitForEmailLink, waitReady } from './process.js';

// `npm start` with no configuration at all: embedded Postgres under DATA_DIR, in-process KV,
// a generated encryption key, emails in the log.
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-e2e-embedded-'));
const postgresOfDataDir = async () =>
  (await processCommandLines()).filter((p) => p.cmdline.includes(dataDir) && /postgres/.test(p.cmdline));

t.teardown(async () => {
  // Only if a failure left one behind: the cluster this file started, found by its data dir.
  for (const p of await postgresOfDataDir()) {
    try {
      process.kill(p.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  await sleep(200);
  await rm(dataDir, { recursive: true, force: true });
});

const server = spawnServer(
  t,
  { DATA_DIR: dataDir, ARGON2_MEMORY_KIB: '8192', ARGON2_ITERATIONS: '1', REQUIRE_EMAIL_VERIFICATION: 'false' },
  await freePort(),
);
const ready = await waitReady(server, 45_000);
const warnings = () => server.logs().filter((l) => l.level === 40);

t.test('with no configuration it starts on embedded Postgres in DATA_DIR and says what it is doing', async (t) => {
  t.equal(ready.status, 'ok');
  t.equal(ready.checks.postgres, true);
  t.equal(ready.checks.kv_kind, 'memory');
  t.ok(existsSync(path.join(dataDir, 'postgres', 'PG_VERSION')), 'the Postgres cluster lives in DATA_DIR');
  t.ok(existsSync(path.join(dataDir, 'encryption-keys')), 'the generated key is kept in DATA_DIR');
  t.ok((await postgresOfDataDir()).length > 0, 'a postgres process runs on that DATA_DIR');

  t.ok(
    warnings().some((l) => String(l.msg).includes('GENERATED LOCAL ENCRYPTION KEY')),
    'a warning names the generated local encryption key',
  );
  t.ok(
    warnings().some((l) => /in-process/i.test(String(l.msg)) && /one instance|single.instance/i.test(String(l.msg))),
    'a warning says the KV store is in-process, for a single instance',
  );
  t.notOk(server.stdout().includes('"level":50'), 'no error was logged during start');
});

t.test('signup writes the verification email to the log as one JSON line with to, subject and text', async (t) => {
  const email = uniqueEmail('embedded');
  const signup = await http(server.url, 'POST', '/v1/signup', { body: { email, password: GOOD_PASSWORD, name: 'Embedded' } });
  t.equal(signup.status, 202);
  const { line, link } = await waitForEmailLink(server, email, 'verify-email');
  const mail = line.email as { to: string; subject: string; text: string };
  t.equal(mail.to, email);
  t.ok(typeof mail.subject === 'string' && mail.subject.length > 0, 'with a subject');
  t.ok(mail.text.includes(link), 'the text carries the link');
  t.ok(link.startsWith(`${server.url}/verify-email?token=`), 'built from the default public URL');
  const rawLines = server
    .stdout()
    .split('\n')
    .filter((l) => l.includes(email) && l.includes('verify-email?token='));
  t.equal(rawLines.length, 1, 'exactly one log line carries the email');
  t.doesNotThrow(() => JSON.parse(rawLines[0]!), 'and it is JSON');

  const verify = await http(server.url, 'POST', '/v1/email/verify', {
    body: { token: new URL(link).searchParams.get('token'), password: GOOD_PASSWORD },
  });
  t.equal(verify.status, 200, 'the link works against the embedded database');
  const login = await http(server.url, 'POST', '/v1/login', { body: { email, password: GOOD_PASSWORD } });
  t.equal(login.status, 200);
  t.notOk(server.stdout().includes(GOOD_PASSWORD), 'the password is never logged');
});

t.test('SIGTERM stops the server and its embedded Postgres: exit 0, no postgres left on DATA_DIR', async (t) => {
  server.child.kill('SIGTERM');
  const code = await exitWithin(server, 15_000);
  t.equal(code, 0, 'exit code 0');
  t.ok(server.logs().some((l) => l.msg === 'shut down cleanly'));
  // The postmaster may take a moment to go after the server has exited.
  await eventually(async () => (await postgresOfDataDir()).length === 0, { timeoutMs: 2000, intervalMs: 100 }).catch(() => undefined);
  t.same(await postgresOfDataDir(), [], 'no postgres process with that DATA_DIR remains');
});

t.test('DATABASE_URL without TESSERA_ENCRYPTION_KEYS: refuses to start, naming TESSERA_ENCRYPTION_KEYS', async (t) => {
  const bad = spawnServer(t, { DATABASE_URL: 'postgres://tessera:x@127.0.0.1:1/tessera', DATA_DIR: dataDir }, await freePort());
  const code = await exitWithin(bad, 15_000);
  t.not(code, 'timeout', 'it does not start');
  t.not(code, 0, 'exits non-zero');
  t.match(bad.stderr(), /TESSERA_ENCRYPTION_KEYS/);
  t.notOk(bad.stdout().includes('GENERATED LOCAL ENCRYPTION KEY'), 'it does not fall back to a generated key');
});

t.test('DATABASE_URL without SMTP_URL: refuses to start rather than log reset links, unless MAIL_TO_LOG=true', async (t) => {
  const bad = spawnServer(
    t,
    { DATABASE_URL: 'postgres://tessera:x@127.0.0.1:1/tessera', TESSERA_ENCRYPTION_KEYS: TEST_KEYS, DATA_DIR: dataDir },
    await freePort(),
  );
  const code = await exitWithin(bad, 15_000);
  t.not(code, 'timeout', 'it does not start');
  t.not(code, 0, 'exits non-zero');
  t.match(bad.stderr(), /SMTP_URL/);
  t.match(bad.stderr(), /MAIL_TO_LOG/);
});
