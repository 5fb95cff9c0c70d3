import net from 'node:net';
import t from 'tap';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createTestDatabase } from '../helpers/db.js';
import { http, productionLikeEnv, sleep, startServer } from './process.js';

// Slow clients against the real process: small timeouts from the environment, raw sockets.
const TIMEOUT_MS = 1000;
// What "closed by the server within a few seconds" allows: the timeout plus node's check interval and slack.
const WITHIN_MS = 4000;

const database = await createTestDatabase();
t.teardown(() => database.drop());
const { server } = await startServer(t, {
  ...productionLikeEnv(database.url, process.env.TESSERA_TEST_REDIS_URL || undefined),
  REQUEST_TIMEOUT_MS: String(TIMEOUT_MS),
  HEADERS_TIMEOUT_MS: String(TIMEOUT_MS),
  KEEP_ALIVE_TIMEOUT_MS: String(TIMEOUT_MS),
  CONNECTION_TIMEOUT_MS: '3000',
});

const describe = (after: number | string) => (typeof after === 'number' ? `after ${after} ms` : after);

type Conn = { socket: net.Socket; received: () => string; closed: Promise<number | 'still open'> };

/** A raw connection; `closed` resolves with the ms from `since` to the server closing it, or 'still open' after WITHIN_MS. */
async function connect(): Promise<Conn> {
  const socket = net.connect(server.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  t.teardown(() => socket.destroy());
  let data = '';
  socket.setEncoding('utf8').on('data', (c: string) => (data += c));
  socket.on('error', () => undefined);
  const start = Date.now();
  const closed = new Promise<number | 'still open'>((resolve) => {
    const timer = setTimeout(() => resolve('still open'), WITHIN_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - start);
    });
  });
  return { socket, received: () => data, closed };
}

t.test('a body that never arrives in full (Content-Length: 100, one byte sent) is cut off', async (t) => {
  const c = await connect();
  c.socket.write('POST /v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
  const after = await c.closed;
  t.type(after, 'number', `the server closed the connection (${describe(after)})`);
  t.ok(typeof after === 'number' && after >= TIMEOUT_MS - 100, 'not before the request timeout');
  t.match(c.received(), /^(HTTP\/1\.1 408|$)/, 'with a 408 or nothing');
});

t.test('a body trickled in byte by byte is cut off at the request timeout, though the connection is never idle', async (t) => {
  const c = await connect();
  c.socket.write('POST /v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n');
  const drip = setInterval(() => c.socket.writable && c.socket.write(' '), 200);
  const after = await c.closed;
  clearInterval(drip);
  t.type(after, 'number', `the server closed the connection (${describe(after)})`);
});

t.test('headers that are never finished are cut off', async (t) => {
  const c = await connect();
  c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
  const after = await c.closed;
  t.type(after, 'number', `the server closed the connection (${describe(after)})`);
});

t.test('headers trickled in (slowloris) are cut off at the headers timeout', async (t) => {
  const c = await connect();
  c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  let i = 0;
  const drip = setInterval(() => c.socket.writable && c.socket.write(`X-${i++}: y\r\n`), 200);
  const after = await c.closed;
  clearInterval(drip);
  t.type(after, 'number', `the server closed the connection (${describe(after)})`);
});

t.test('an idle keep-alive connection is closed after the keep-alive timeout', async (t) => {
  const c = await connect();
  c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
  await sleep(200);
  t.match(c.received(), /^HTTP\/1\.1 200/, 'the request was answered');
  t.match(c.received(), /keep-alive: timeout=1\b/i, 'and the connection kept open, announcing the timeout');
  const after = await c.closed;
  t.type(after, 'number', `then closed once idle (${describe(after)})`);
});

t.test('ordinary requests are not affected', async (t) => {
  const res = await http(server.url, 'GET', '/healthz');
  t.equal(res.status, 200);
  const login = await http(server.url, 'POST', '/v1/login', { body: { email: 'nobody@example.com', password: 'x-wrong-password' } });
  t.equal(login.status, 401);
});

t.test('the defaults, and a headers timeout longer than the request timeout is refused', async (t) => {
  t.same(loadConfig({}).timeouts, { requestMs: 10_000, headersMs: 5_000, keepAliveMs: 5_000, connectionMs: 10_000 });
  const err = t.throws(() => loadConfig({ REQUEST_TIMEOUT_MS: '2000', HEADERS_TIMEOUT_MS: '3000' })) as Error;
  t.ok(err instanceof ConfigError);
  t.match(err.message, /HEADERS_TIMEOUT_MS: must not exceed REQUEST_TIMEOUT_MS/);
});
