import { randomUUID } from 'node:crypto';
import t from 'tap';
import { freePort } from '../../src/infra/net.js';
import { createTestDatabase } from '../helpers/db.js';
import { GOOD_PASSWORD, TEST_KEYS, uniqueEmail } from '../helpers/app.js';
import { assertProblem } from '../helpers/problem.js';
import { exitWithin, http, productionLikeEnv, spawnServer, startServer, waitForEmailLink } from './process.js';

// The real process, as deployed: node + src/main.ts, real Postgres, real Redis when there is one.
const redisUrl = process.env.TESSERA_TEST_REDIS_URL || undefined;
const database = await createTestDatabase();
t.teardown(() => database.drop());

const { server, ready } = await startServer(t, {
  ...productionLikeEnv(database.url, redisUrl),
  LOG_LEVEL: 'info',
});
const base = server.url;
const email = uniqueEmail('e2e');
const password = GOOD_PASSWORD;
const secrets: string[] = [password];

t.test('the started server is ready on Postgres and the configured KV store', async (t) => {
  t.equal(ready.status, 'ok');
  t.equal(ready.checks.postgres, true);
  t.equal(ready.checks.kv, true);
  t.equal(ready.checks.kv_kind, redisUrl ? 'redis' : 'memory');
  const health = await http(base, 'GET', '/healthz');
  t.equal(health.status, 200);
  t.same(health.json, { status: 'ok' });
});

t.test('over HTTP: signup logs the verification email, the link verifies, login and GET /v1/me work', async (t) => {
  const signup = await http(base, 'POST', '/v1/signup', { body: { email, password, name: 'Ada E2E' } });
  t.equal(signup.status, 202, signup.text);

  const { line, link } = await waitForEmailLink(server, email, 'verify-email');
  const mail = line.email as { to: string; subject: string; text: string };
  t.equal(mail.to, email);
  t.type(mail.subject, 'string');
  t.ok(mail.subject.length > 0, 'the email has a subject');
  t.ok(link.startsWith(`${base}/verify-email?token=`), `the link is built from the public URL (${link})`);

  const login = await http(base, 'POST', '/v1/login', { body: { email, password } });
  t.equal(login.status, 200);
  t.equal(login.json.status, 'authenticated');
  t.equal(login.json.token_type, 'Bearer');
  t.equal(login.json.expires_in, 900);
  // 43200 at login; a whole second may be lost to rounding (see the report on pairFor).
  t.ok(
    login.json.refresh_expires_in >= 43199 && login.json.refresh_expires_in <= 43200,
    `refresh_expires_in ~ 12 h (${login.json.refresh_expires_in})`,
  );
  secrets.push(login.json.access_token, login.json.refresh_token);

  const before = await http(base, 'GET', '/v1/me', { token: login.json.access_token });
  t.equal(before.status, 200);
  t.equal(before.json.email, email);
  t.equal(before.json.email_verified, false, 'unverified until the link is followed');

  const token = new URL(link).searchParams.get('token')!;
  const verify = await http(base, 'POST', '/v1/email/verify', { body: { token, password } });
  t.equal(verify.status, 200, verify.text);
  // Sessions opened before the address was proven end when it is (pre-verification takeover).
  const stale = await http(base, 'GET', '/v1/me', { token: login.json.access_token });
  t.equal(stale.status, 401);
  const again = await http(base, 'POST', '/v1/login', { body: { email, password } });
  const after = await http(base, 'GET', '/v1/me', { token: again.json.access_token });
  t.equal(after.status, 200);
  t.equal(after.json.email_verified, true);
  const row = await database.db.selectFrom('users').select(['email', 'email_verified_at']).where('email', '=', email).executeTakeFirst();
  t.ok(row?.email_verified_at, 'the database records the verification');

  const wrong = await http(base, 'POST', '/v1/login', { body: { email, password: 'not-the-password-at-all' } });
  assertProblem(t, wrong, 401, 'INVALID_CREDENTIALS');
});

t.test('GET /metrics counts requests by route pattern and logins by outcome', async (t) => {
  const sid = randomUUID();
  const login = await http(base, 'POST', '/v1/login', { body: { email, password } });
  t.equal(login.status, 200);
  secrets.push(login.json.access_token, login.json.refresh_token);
  const del = await http(base, 'DELETE', `/v1/me/sessions/${sid}`, { token: login.json.access_token });
  t.equal(del.status, 404, "someone else's / unknown session id");

  const res = await http(base, 'GET', '/metrics');
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const metrics = res.text;
  t.match(metrics, /^tessera_http_requests_total\{[^}]*route="\/v1\/me"[^}]*status="200"[^}]*\} [1-9]/m, 'GET /v1/me counted');
  t.match(metrics, /^tessera_http_requests_total\{[^}]*route="\/v1\/me\/sessions\/:id"[^}]*\} 1/m, 'labelled by the route pattern');
  t.notOk(metrics.includes(sid), 'never by the raw URL');
  const success = /^tessera_logins_total\{outcome="success"\} (\d+)/m.exec(metrics);
  t.ok(success && Number(success[1]) >= 2, `successful logins counted (${success?.[1]})`);
  t.match(metrics, /^tessera_logins_total\{outcome="[a-z_]+"\} [1-9]/m);
  t.match(metrics, /^tessera_http_request_duration_seconds_bucket\{[^}]*route="\/v1\/me"/m, 'latency by route');
});

t.test('the JSON logs carry request ids and never the password or tokens', async (t) => {
  const login = await http(base, 'POST', '/v1/login', { body: { email, password }, headers: { 'x-request-id': 'e2e-req-12345678' } });
  t.equal(login.status, 200);
  secrets.push(login.json.access_token, login.json.refresh_token);
  t.equal(login.headers.get('x-request-id'), 'e2e-req-12345678', "a caller's request id is echoed");
  const me = await http(base, 'GET', '/v1/me', { token: login.json.access_token });
  const reqId = me.headers.get('x-request-id');
  t.ok(reqId, 'every response names its request id');
  // Give pino a moment to flush the response lines.
  await server.waitForLog((l) => l.reqId === reqId && l.msg === 'request completed');

  const lines = server.logs();
  t.ok(lines.length > 5, 'the process writes JSON log lines to stdout');
  t.ok(
    lines.some((l) => l.reqId === 'e2e-req-12345678'),
    'log lines of the login carry its request id',
  );
  const meLines = lines.filter((l) => l.reqId === reqId);
  t.ok(meLines.length >= 1, 'log lines of GET /v1/me carry its request id');
  const out = server.stdout();
  for (const [i, secret] of secrets.entries()) {
    t.notOk(out.includes(secret), `secret #${i} (${i === 0 ? 'password' : 'token'}) is not in the logs`);
  }
  t.ok(secrets.length >= 7, 'password and three token pairs checked');
});

t.test('SIGTERM: a request in flight still completes with 200, then the process exits 0', async (t) => {
  // The login body is sent in two parts, the second only after SIGTERM was received, so the
  // request is provably in flight while the server shuts down.
  const json = JSON.stringify({ email, password });
  const half = Math.floor(json.length / 2);
  let push!: (s: string | null) => void;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const enc = new TextEncoder();
      push = (s) => (s === null ? controller.close() : controller.enqueue(enc.encode(s)));
    },
  });
  push(json.slice(0, half));
  const pending = fetch(`${base}/v1/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'e2e-inflight-login' },
    body,
    duplex: 'half',
  } as RequestInit);
  await server.waitForLog((l) => l.reqId === 'e2e-inflight-login');
  server.child.kill('SIGTERM');
  await server.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('shutting down'));

  push(json.slice(half));
  push(null);
  const res = await pending;
  t.equal(res.status, 200, 'the in-flight login completed');
  const tokens = (await res.json()) as { access_token: string; refresh_token: string };
  t.type(tokens.access_token, 'string');

  const code = await exitWithin(server, 8000);
  t.equal(code, 0, 'exits with code 0');
  t.ok(server.logs().some((l) => l.msg === 'shut down cleanly'));
  t.notOk(server.stdout().includes(tokens.access_token), 'the last token is not logged either');
  const refused = await fetch(`${base}/healthz`).then(
    () => 'answered',
    () => 'refused',
  );
  t.equal(refused, 'refused', 'nothing listens after exit');
});

t.test('PORT=abc: the process exits non-zero with a message naming PORT', async (t) => {
  const bad = spawnServer(t, { PORT: 'abc', DATABASE_URL: database.url, TESSERA_ENCRYPTION_KEYS: TEST_KEYS }, await freePort());
  const code = await exitWithin(bad, 15_000);
  t.not(code, 0);
  t.not(code, 'timeout', 'it does not start');
  t.match(bad.stderr(), /PORT/);
  t.match(bad.stderr(), /Invalid configuration/);
});
