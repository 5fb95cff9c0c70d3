import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { assertProblem } from '../helpers/problem.js';

const TOKEN = 'scrape-token-0123456789abcdef';

t.test('METRICS_TOKEN: /metrics wants the bearer token, 401 with a challenge without it', async (t) => {
  const ctx = await buildTestApp(t, { env: { METRICS_TOKEN: TOKEN } });
  const get = (headers: Record<string, string> = {}) => ctx.app.inject({ method: 'GET', url: '/metrics', headers });

  const none = await get();
  assertProblem(t, none, 401, 'AUTHENTICATION_REQUIRED', 'no token');
  t.equal(none.headers['www-authenticate'], 'Bearer');
  t.notMatch(none.body, /tessera_http_requests_total/, 'no metrics in the answer');
  assertProblem(t, await get({ authorization: `Bearer ${TOKEN}x` }), 401, 'INVALID_TOKEN', 'a wrong token');
  assertProblem(t, await get({ authorization: `Bearer ${TOKEN.slice(0, -1)}` }), 401, 'INVALID_TOKEN', 'a prefix of the token');
  assertProblem(t, await get({ authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }), 401, 'INVALID_TOKEN', 'Basic');

  const ok = await get({ authorization: `Bearer ${TOKEN}` });
  t.equal(ok.statusCode, 200);
  t.match(ok.headers['content-type'], /^text\/plain/);
  t.match(ok.body, /tessera_http_requests_total/);
});

t.test('without METRICS_TOKEN or METRICS_PORT /metrics is open on the main port, as before', async (t) => {
  const ctx = await buildTestApp(t);
  t.equal((await ctx.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200);
});

t.test('METRICS_PORT: /metrics is not served on the main port', async (t) => {
  const ctx = await buildTestApp(t, { env: { METRICS_PORT: '9464' } });
  assertProblem(t, await ctx.app.inject({ method: 'GET', url: '/metrics' }), 404, 'ROUTE_NOT_FOUND');
  t.equal(ctx.config.metrics.host, '127.0.0.1', 'the metrics listener binds to loopback by default');
});

t.test('a short METRICS_TOKEN, or METRICS_PORT equal to PORT, is refused at start', async (t) => {
  const { loadConfig } = await import('../../src/config.js');
  t.throws(() => loadConfig({ METRICS_TOKEN: 'short' }), /METRICS_TOKEN: must be at least 16 characters/);
  t.throws(() => loadConfig({ PORT: '9000', METRICS_PORT: '9000' }), /METRICS_PORT: must differ from PORT/);
});
