import t from 'tap';
import http from 'node:http';
import type { Test } from 'tap';
import { buildTestApp, createVerifiedUser, waitForLinkToken, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { eventually } from '../../helpers/eventually.js';
import { offsetClock } from '../../../src/infra/clock.js';

const WRONG = 'definitely-wrong-password-7';
const ENV = {
  LOGIN_ACCOUNT_FREE_FAILURES: '3',
  LOGIN_IP_FREE_FAILURES: '50',
  LOGIN_ACCOUNT_GLOBAL_FREE_FAILURES: '6',
  LOGIN_THROTTLE_BASE_SECONDS: '60',
  LOGIN_THROTTLE_MAX_SECONDS: '900',
};

async function setup(t: Test, env: Record<string, string> = {}) {
  const clock = offsetClock();
  const ctx = await buildTestApp(t, { env: { ...ENV, ...env }, clock });
  return { ctx, clock, user: await createVerifiedUser(ctx) };
}

async function attempt(
  ctx: TestApp,
  email: string,
  password: string,
  remoteAddress: string,
  extra: { device_token?: string; cookie?: string } = {},
) {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/login',
    payload: { email, password, ...(extra.device_token ? { device_token: extra.device_token } : {}) },
    headers: extra.cookie ? { cookie: extra.cookie } : {},
    remoteAddress,
  });
  return { res, status: res.statusCode, body: res.json() };
}

t.test('an attacker guessing from one IP does not lock the owner out on another IP', async (t) => {
  const { ctx, user } = await setup(t, { LOGIN_ACCOUNT_GLOBAL_FREE_FAILURES: '1000' });
  // About 20 wrong passwords an hour from one IP used to keep the account lock closed.
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) statuses.push((await attempt(ctx, user.email, WRONG, '203.0.113.66')).status);
  t.same(statuses.slice(0, 4), [401, 401, 401, 401], 'three free guesses, and the fourth takes the lock');
  t.ok(
    statuses.slice(4).every((s) => s === 429),
    'the attacker is throttled',
  );
  const owner = await attempt(ctx, user.email, user.password, '198.51.100.7');
  t.equal(owner.status, 200, `the owner's right password logs in from their own IP (${owner.res.body})`);
  const again = await attempt(ctx, user.email, user.password, '203.0.113.66');
  assertProblem(t, again.res, 429, 'LOGIN_THROTTLED', 'the attacking IP stays locked for this account');
});

t.test('guessing spread over many IPs is bounded, and a known device still gets in', async (t) => {
  const { ctx, clock, user } = await setup(t);
  // The owner logged in before from their browser: it holds a device token (cookie and body).
  const first = await attempt(ctx, user.email, user.password, '198.51.100.7');
  t.equal(first.status, 200);
  const deviceToken = first.body.device_token as string;
  t.match(deviceToken, /^[\w-]+\.\d+\.[\w-]+$/, 'a signed device token is returned');
  const setCookie = String(first.res.headers['set-cookie']);
  t.match(setCookie, /tessera_device=/, 'and set as a cookie');
  t.match(setCookie, /Path=\/v1\/login/, 'sent to the login endpoint only');
  t.match(setCookie, /HttpOnly/);

  // Real sockets from three loopback source addresses against a listening server.
  const base = new URL(await ctx.app.listen({ port: 0, host: '127.0.0.1' }));
  const post = (localAddress: string, body: object) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: base.hostname,
          port: base.port,
          path: '/v1/login',
          method: 'POST',
          localAddress,
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  const results: Array<{ ip: string; status: number }> = [];
  for (let round = 0; round < 4; round++) {
    for (const ip of ['127.0.0.2', '127.0.0.3', '127.0.0.4'])
      results.push({ ip, status: await post(ip, { email: user.email, password: WRONG }) });
  }
  const checked = results.filter((r) => r.status === 401).length;
  const refused = results.filter((r) => r.status === 429).length;
  t.comment(`12 guesses from 3 IPs: ${checked} checked, ${refused} refused`);
  t.equal(checked + refused, 12, 'every guess was a 401 or a 429');
  t.ok(checked <= 7, 'the account-wide budget (6) plus the one guess that takes the lock');
  t.ok(refused >= 5, 'the rest were refused');
  const lockRows = await eventually(() =>
    ctx.db
      .selectFrom('audit_events')
      .select(['data', 'actor_id'])
      .where('action', '=', 'session.login_throttled')
      .execute()
      .then((rows) => rows.length > 0 && rows),
  );
  t.ok(
    lockRows.some((r) => (r.data as { scope?: string }).scope === 'account'),
    'the account-wide lock is audited',
  );

  // A fourth IP without a device token is slowed like every unknown client.
  const stranger = await attempt(ctx, user.email, user.password, '127.0.0.5');
  assertProblem(t, stranger.res, 429, 'LOGIN_THROTTLED', 'an unknown client waits while the account is under attack');
  // The owner's browser (cookie) and a client that kept the token (body) get in.
  const cookie = setCookie.split(';')[0];
  t.equal((await attempt(ctx, user.email, user.password, '127.0.0.5', { cookie })).status, 200, 'known device by cookie');
  t.equal((await attempt(ctx, user.email, user.password, '127.0.0.6', { device_token: deviceToken })).status, 200, 'known device by token');
  // Forged, foreign or stale device tokens count for nothing.
  const other = await createVerifiedUser(ctx);
  const foreign = (await attempt(ctx, other.email, other.password, '198.51.100.8')).body.device_token as string;
  const [id, issued, sig] = deviceToken.split('.');
  for (const [why, token] of [
    ['another account', foreign],
    ['tampered signature', `${id}.${issued}.${sig.slice(0, -2)}AA`],
    ['tampered issue time', `${id}.${Number(issued) + 1}.${sig}`],
  ]) {
    assertProblem(
      t,
      (await attempt(ctx, user.email, user.password, '127.0.0.7', { device_token: token })).res,
      429,
      'LOGIN_THROTTLED',
      why,
    );
  }
  // A year on (every lock has expired), the account is attacked again: the old token no longer helps.
  clock.advance(366 * 24 * 3600 * 1000);
  for (let i = 0; i < 8; i++) await attempt(ctx, user.email, WRONG, `192.0.2.${i + 10}`);
  assertProblem(
    t,
    (await attempt(ctx, user.email, user.password, '127.0.0.8', { device_token: deviceToken })).res,
    429,
    'LOGIN_THROTTLED',
    'a year-old device token is stale',
  );
});

t.test('a known device has a budget of its own: a stolen device token cannot guess freely', async (t) => {
  const { ctx, user } = await setup(t);
  const deviceToken = (await attempt(ctx, user.email, user.password, '198.51.100.7')).body.device_token as string;
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++)
    statuses.push((await attempt(ctx, user.email, WRONG, `192.0.2.${i + 1}`, { device_token: deviceToken })).status);
  t.same(statuses, [401, 401, 401, 401, 429, 429], 'three free guesses, one that takes the device lock, then 429 from any IP');
});

t.test('a completed password reset clears the locks', async (t) => {
  const { ctx, user } = await setup(t);
  for (let i = 0; i < 4; i++) await attempt(ctx, user.email, WRONG, '198.51.100.9');
  assertProblem(t, (await attempt(ctx, user.email, user.password, '198.51.100.9')).res, 429, 'LOGIN_THROTTLED', 'locked before the reset');
  await ctx.app.inject({ method: 'POST', url: '/v1/password/forgot', payload: { email: user.email } });
  const token = await waitForLinkToken(ctx, user.email, 'reset-password');
  const NEW = 'a-brand-new-passphrase-31';
  const reset = await ctx.app.inject({ method: 'POST', url: '/v1/password/reset', payload: { token, password: NEW } });
  t.equal(reset.statusCode, 200);
  await eventually(async () => (await attempt(ctx, user.email, NEW, '198.51.100.9')).status === 200, { message: 'the lock to be cleared' });
  t.pass('the owner logs in with the new password from the IP that was locked');
});

t.test('IPv6 clients are counted by their /64', async (t) => {
  const { ctx, user } = await setup(t, { LOGIN_ACCOUNT_GLOBAL_FREE_FAILURES: '1000' });
  // Four guesses, each from another address of one /64: one budget.
  const statuses: number[] = [];
  for (let i = 1; i <= 5; i++) statuses.push((await attempt(ctx, user.email, WRONG, `2001:db8:aa:1::${i}`)).status);
  t.same(statuses, [401, 401, 401, 401, 429], 'the addresses of one /64 share a budget');
  t.equal((await attempt(ctx, user.email, user.password, '2001:db8:aa:2::1')).status, 200, 'another /64 is another client');
});
