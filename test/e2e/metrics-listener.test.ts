import t from 'tap';
import { freePort } from '../../src/infra/net.js';
import { createTestDatabase } from '../helpers/db.js';
import { assertProblem } from '../helpers/problem.js';
import { http, productionLikeEnv, startServer } from './process.js';

// METRICS_PORT: /metrics on a listener of its own (loopback by default), not on the API port.
const TOKEN = 'scrape-token-0123456789abcdef';
const database = await createTestDatabase();
t.teardown(() => database.drop());
const metricsPort = await freePort();
const { server } = await startServer(t, {
  ...productionLikeEnv(database.url, process.env.TESSERA_TEST_REDIS_URL || undefined),
  METRICS_PORT: String(metricsPort),
  METRICS_TOKEN: TOKEN,
});
const metricsUrl = `http://127.0.0.1:${metricsPort}`;

t.test('the API port does not serve /metrics', async (t) => {
  assertProblem(t, await http(server.url, 'GET', '/metrics', { headers: { authorization: `Bearer ${TOKEN}` } }), 404, 'ROUTE_NOT_FOUND');
});

t.test('the metrics port serves /metrics behind the token, and nothing else', async (t) => {
  await http(server.url, 'GET', '/healthz');
  const res = await http(metricsUrl, 'GET', '/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  t.match(res.text, /^tessera_http_requests_total\{[^}]*route="\/healthz"[^}]*\} [1-9]/m, 'the API port counts its requests there');
  t.equal(res.headers.get('x-content-type-options'), 'nosniff');

  const anonymous = await http(metricsUrl, 'GET', '/metrics');
  t.equal(anonymous.status, 401);
  t.equal(anonymous.json.code, 'AUTHENTICATION_REQUIRED');
  t.equal(anonymous.headers.get('www-authenticate'), 'Bearer');
  for (const path of ['/healthz', '/v1/me', '/openapi.json']) {
    t.equal((await http(metricsUrl, 'GET', path)).status, 404, `${path} is not on the metrics port`);
  }
});

t.test('the start-up log names where the metrics are', async (t) => {
  const line = server.logs().find((l) => l.msg === 'Tessera is listening');
  t.equal(line?.metrics, `${metricsUrl}/metrics`);
});

t.test('SIGTERM closes both listeners and the process exits 0', async (t) => {
  server.child.kill('SIGTERM');
  t.equal(await server.exited, 0);
  const refused = await fetch(`${metricsUrl}/metrics`).then(
    () => 'answered',
    () => 'refused',
  );
  t.equal(refused, 'refused', 'nothing listens on the metrics port after exit');
});
