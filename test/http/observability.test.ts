import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger } from '../../src/infra/logger.js';
import { buildTestApp, createVerifiedUser, login } from '../helpers/app.js';
import { assertProblem } from '../helpers/problem.js';

t.test('the logger redacts secrets wherever services put them', async (t) => {
  const lines: string[] = [];
  const logger = createLogger('info', new Writable({ write: (c, _e, cb) => (lines.push(c.toString()), cb()) }));
  logger.info(
    {
      password: 'hunter2-secret',
      body: { refresh_token: 'rt-secret', code: '123456' },
      req: { headers: { authorization: 'Bearer at-secret', cookie: 'tessera_at=c-secret' } },
    },
    'x',
  );
  const out = lines.join('');
  for (const secret of ['hunter2-secret', 'rt-secret', '123456', 'at-secret', 'c-secret'])
    t.notMatch(out, secret, `${secret} is not logged`);
  t.match(out, '[REDACTED]');
});

t.test('a login, refresh and authenticated call leave no password or token in the logs', async (t) => {
  const ctx = await buildTestApp(t, { env: { LOG_LEVEL: 'trace' } });
  const user = await createVerifiedUser(ctx);
  const { body } = await login(ctx, user.email, user.password);
  const refreshed = await ctx.app.inject({
    method: 'POST',
    url: '/v1/token',
    payload: { grant_type: 'refresh_token', refresh_token: body.refresh_token },
  });
  t.equal(refreshed.statusCode, 200);
  const me = await ctx.app.inject({
    method: 'GET',
    url: '/v1/me',
    headers: { authorization: `Bearer ${refreshed.json().access_token}`, cookie: 'tessera_csrf=abc' },
  });
  t.equal(me.statusCode, 200);
  await ctx.app.inject({ method: 'POST', url: '/v1/login', payload: { email: user.email, password: 'wrong-password-xyz' } });
  const out = ctx.logs.join('');
  t.ok(out.length > 0, 'requests were logged');
  for (const secret of [
    user.password,
    'wrong-password-xyz',
    body.access_token,
    body.refresh_token,
    refreshed.json().refresh_token,
    refreshed.json().access_token,
  ]) {
    t.notOk(out.includes(secret), 'a secret is absent from the logs');
  }
  t.match(out, /"reqId":"[0-9a-f-]{36}"/, 'log lines carry the request id');
});

t.test('metrics count requests by route pattern and logins by outcome', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await createVerifiedUser(ctx);
  await login(ctx, user.email, user.password);
  await login(ctx, user.email, 'not-the-password-1');
  const res = await ctx.app.inject({ method: 'GET', url: '/metrics' });
  t.equal(res.statusCode, 200);
  t.match(res.body, /tessera_logins_total\{outcome="success"\} 1/);
  t.match(res.body, /tessera_logins_total\{outcome="invalid_credentials"\} 1/);
  t.match(res.body, /tessera_http_requests_total\{method="POST",route="\/v1\/login",status="200"\} 1/);
  t.match(res.body, /tessera_http_request_duration_seconds_bucket\{le="0.005",method="POST",route="\/v1\/signup"\}/);
});

t.test('responses carry the request id, and a caller-supplied one is kept', async (t) => {
  const ctx = await buildTestApp(t);
  const res = await ctx.app.inject({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'req-abc-12345' } });
  t.equal(res.headers['x-request-id'], 'req-abc-12345');
  const body = assertProblem(t, res, 404, 'ROUTE_NOT_FOUND');
  t.equal(body.request_id, 'req-abc-12345');
  const bad = await ctx.app.inject({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'x' } });
  t.not(bad.headers['x-request-id'], 'x', 'a malformed id is replaced');
});
