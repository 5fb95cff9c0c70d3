import t from 'tap';
import { createTestDatabase } from '../helpers/db.js';
import { GOOD_PASSWORD, uniqueEmail } from '../helpers/app.js';
import { assertProblem } from '../helpers/problem.js';
import { http, productionLikeEnv, startServer } from './process.js';

// Two real server processes side by side on one Postgres and one Redis, as in production.
const redisUrl = process.env.TESSERA_TEST_REDIS_URL || undefined;

if (!redisUrl) {
  t.test('two instances share revocations and refresh-token reuse detection', { skip: 'no redis-server' }, async () => undefined);
} else {
  const database = await createTestDatabase();
  t.teardown(() => database.drop());
  const env = {
    ...productionLikeEnv(database.url, redisUrl),
    // Both instances issue and accept the same tokens: one issuer for the deployment.
    TESSERA_PUBLIC_URL: 'http://tessera.test',
  };
  const [a, b] = await Promise.all([startServer(t, env), startServer(t, env)]);
  const A = a.server.url;
  const B = b.server.url;

  async function newUserLoggedInOnA() {
    const email = uniqueEmail('two');
    const signup = await http(A, 'POST', '/v1/signup', { body: { email, password: GOOD_PASSWORD, name: 'Two Instances' } });
    if (signup.status !== 202) throw new Error(`signup failed: ${signup.text}`);
    const login = await http(A, 'POST', '/v1/login', { body: { email, password: GOOD_PASSWORD } });
    if (login.status !== 200) throw new Error(`login failed: ${login.text}`);
    return { email, tokens: login.json as { access_token: string; refresh_token: string; session_id: string } };
  }

  t.test('both instances are ready on Redis, on different ports', async (t) => {
    t.not(a.server.port, b.server.port);
    t.equal(a.ready.checks.kv_kind, 'redis');
    t.equal(b.ready.checks.kv_kind, 'redis');
  });

  t.test('a session logged out on A is rejected on B at once with 401 SESSION_REVOKED', async (t) => {
    const { email, tokens } = await newUserLoggedInOnA();
    const meOnB = await http(B, 'GET', '/v1/me', { token: tokens.access_token });
    t.equal(meOnB.status, 200, 'a token issued by A works on B');
    t.equal(meOnB.json.email, email);

    const logout = await http(A, 'POST', '/v1/logout', { token: tokens.access_token });
    t.equal(logout.status, 204);
    const after = await http(B, 'GET', '/v1/me', { token: tokens.access_token });
    assertProblem(t, after, 401, 'SESSION_REVOKED');
    const session = await database.db
      .selectFrom('sessions')
      .select('revoked_at')
      .where('id', '=', tokens.session_id)
      .executeTakeFirstOrThrow();
    t.ok(session.revoked_at, 'Postgres records the revocation');
  });

  t.test('a session revoked with DELETE /v1/me/sessions/{id} on A is rejected on B', async (t) => {
    const { tokens: first } = await newUserLoggedInOnA();
    const me = await http(A, 'GET', '/v1/me', { token: first.access_token });
    const email = me.json.email as string;
    const second = await http(B, 'POST', '/v1/login', { body: { email, password: GOOD_PASSWORD } });
    t.equal(second.status, 200, 'a second session, opened on B');

    const listOnA = await http(A, 'GET', '/v1/me/sessions', { token: first.access_token });
    t.equal(listOnA.status, 200);
    t.same(
      listOnA.json.sessions.map((s: { id: string }) => s.id).sort(),
      [first.session_id, second.json.session_id].sort(),
      'A lists the session opened on B',
    );

    const revoke = await http(A, 'DELETE', `/v1/me/sessions/${second.json.session_id}`, { token: first.access_token });
    t.equal(revoke.status, 204);
    const onB = await http(B, 'GET', '/v1/me', { token: second.json.access_token });
    assertProblem(t, onB, 401, 'SESSION_REVOKED');
    const stillOk = await http(B, 'GET', '/v1/me', { token: first.access_token });
    t.equal(stillOk.status, 200, 'the other session is untouched');
  });

  t.test('a refresh token rotated on A and replayed on B ends the session everywhere', async (t) => {
    const { tokens: r0 } = await newUserLoggedInOnA();
    const rotate1 = await http(A, 'POST', '/v1/token', { body: { grant_type: 'refresh_token', refresh_token: r0.refresh_token } });
    t.equal(rotate1.status, 200);
    t.not(rotate1.json.refresh_token, r0.refresh_token);

    // A lost-response retry on the other instance, inside the grace window, gets the same successor.
    const retryOnB = await http(B, 'POST', '/v1/token', { body: { grant_type: 'refresh_token', refresh_token: r0.refresh_token } });
    t.equal(retryOnB.status, 200, 'retry tolerated across instances');
    t.equal(retryOnB.json.refresh_token, rotate1.json.refresh_token, 'same successor, no new branch');

    const rotate2 = await http(A, 'POST', '/v1/token', {
      body: { grant_type: 'refresh_token', refresh_token: rotate1.json.refresh_token },
    });
    t.equal(rotate2.status, 200, 'the successor is used on A');

    // Now the first token is plain reuse: its successor was itself spent.
    const replay = await http(B, 'POST', '/v1/token', { body: { grant_type: 'refresh_token', refresh_token: r0.refresh_token } });
    assertProblem(t, replay, 400, 'INVALID_GRANT');

    const latest = await http(A, 'POST', '/v1/token', { body: { grant_type: 'refresh_token', refresh_token: rotate2.json.refresh_token } });
    assertProblem(t, latest, 400, 'INVALID_GRANT', 'the newest refresh token died with the session');
    for (const [name, base] of [
      ['A', A],
      ['B', B],
    ] as const) {
      const me = await http(base, 'GET', '/v1/me', { token: rotate2.json.access_token });
      assertProblem(t, me, 401, 'SESSION_REVOKED', `the newest access token is rejected on ${name}`);
    }
    const session = await database.db
      .selectFrom('sessions')
      .select(['revoked_at', 'revoked_reason'])
      .where('id', '=', r0.session_id)
      .executeTakeFirstOrThrow();
    t.ok(session.revoked_at, 'revoked in Postgres');
    t.equal(session.revoked_reason, 'refresh_token_reuse');
  });
}
