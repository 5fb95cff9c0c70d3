import t from 'tap';
import type { Test } from 'tap';
import { buildTestApp, createVerifiedUser, uniqueEmail, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { offsetClock } from '../../../src/infra/clock.js';

const THROTTLE_ENV = {
  LOGIN_ACCOUNT_FREE_FAILURES: '3',
  LOGIN_IP_FREE_FAILURES: '10',
  LOGIN_THROTTLE_BASE_SECONDS: '2',
  LOGIN_THROTTLE_MAX_SECONDS: '8',
};
const WRONG = 'definitely-wrong-password-7';

async function setup(t: Test) {
  const clock = offsetClock();
  const ctx = await buildTestApp(t, { env: THROTTLE_ENV, kv: 'memory', clock });
  return { ctx, clock };
}

async function attempt(ctx: TestApp, email: string, password: string, remoteAddress = '127.0.0.1') {
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/login', payload: { email, password }, remoteAddress });
  return { res, status: res.statusCode, body: res.json(), retryAfter: res.headers['retry-after'] as string | undefined };
}

function assertThrottled(t: Test, r: Awaited<ReturnType<typeof attempt>>, expectedWait?: number) {
  assertProblem(t, r.res, 429, 'LOGIN_THROTTLED', 'throttled');
  t.match(r.retryAfter, /^\d+$/, `Retry-After is integer seconds (${r.retryAfter})`);
  const wait = Number(r.retryAfter);
  t.ok(wait >= 1 && wait <= 8, 'Retry-After within 1..8');
  if (expectedWait !== undefined) t.equal(wait, expectedWait, `waits ${expectedWait} s`);
  return wait;
}

t.test('after 3 free failures the 4th sets a lock: 429 with Retry-After even for the right password', async (t) => {
  const { ctx } = await setup(t);
  const user = await createVerifiedUser(ctx);
  for (let i = 1; i <= 3; i++) t.equal((await attempt(ctx, user.email, WRONG)).status, 401, `free failure ${i}`);
  const fourth = await attempt(ctx, user.email, WRONG);
  t.equal(fourth.status, 401, 'the 4th failure is still answered as a failure');
  const blocked = await attempt(ctx, user.email, user.password);
  assertThrottled(t, blocked, 2);
  t.match(blocked.body.detail, /2 seconds/);
  t.equal(
    await ctx.db
      .selectFrom('sessions')
      .select('id')
      .execute()
      .then((r) => r.length),
    0,
    'no session was started',
  );
});

t.test('the delay doubles with each further failure and caps at LOGIN_THROTTLE_MAX_SECONDS', async (t) => {
  const { ctx, clock } = await setup(t);
  const user = await createVerifiedUser(ctx);
  for (let i = 1; i <= 4; i++) await attempt(ctx, user.email, WRONG);
  const waits: number[] = [];
  for (const expected of [2, 4, 8, 8]) {
    const wait = assertThrottled(t, await attempt(ctx, user.email, WRONG), expected);
    waits.push(wait);
    // Still locked one second before the end.
    clock.advance((wait - 1) * 1000);
    assertThrottled(t, await attempt(ctx, user.email, user.password));
    clock.advance(1100);
    t.equal((await attempt(ctx, user.email, WRONG)).status, 401, 'after the wait the attempt is judged again');
  }
  t.same(waits, [2, 4, 8, 8]);
  t.ok(
    waits.every((w) => w <= 8),
    'never more than the cap',
  );
});

t.test('after the wait the right password logs in and resets the account counter', async (t) => {
  const { ctx, clock } = await setup(t);
  const user = await createVerifiedUser(ctx);
  for (let i = 1; i <= 4; i++) await attempt(ctx, user.email, WRONG);
  const wait = assertThrottled(t, await attempt(ctx, user.email, user.password), 2);
  clock.advance(wait * 1000 + 100);
  const ok = await attempt(ctx, user.email, user.password);
  t.equal(ok.status, 200, 'logs in after the wait');
  t.equal(ok.body.status, 'authenticated');
  // Without the reset the next failure would be the 5th and lock at once.
  for (let i = 1; i <= 4; i++)
    t.equal((await attempt(ctx, user.email, WRONG)).status, 401, `failure ${i} after the reset is not throttled`);
  assertThrottled(t, await attempt(ctx, user.email, user.password), 2);
});

t.test('unknown emails are throttled exactly like real accounts, so a 429 reveals nothing', async (t) => {
  const { ctx } = await setup(t);
  const user = await createVerifiedUser(ctx);
  const ghost = uniqueEmail('ghost');
  for (let i = 1; i <= 4; i++) {
    const real = await attempt(ctx, user.email, WRONG);
    const fake = await attempt(ctx, ghost, WRONG);
    t.equal(real.status, 401);
    t.equal(fake.status, 401);
  }
  const real = await attempt(ctx, user.email, user.password);
  const fake = await attempt(ctx, ghost, user.password);
  assertThrottled(t, real, 2);
  assertThrottled(t, fake, 2);
  t.equal(real.retryAfter, fake.retryAfter);
  const strip = ({ request_id: _r, ...rest }: Record<string, unknown>) => rest;
  t.same(strip(fake.body), strip(real.body), 'identical 429 bodies apart from request_id');
  t.same(Object.keys(fake.body), Object.keys(real.body));
});

t.test('per IP: failures across many emails lock that IP for other accounts; another IP is unaffected', async (t) => {
  const { ctx } = await setup(t);
  const victim = await createVerifiedUser(ctx);
  const attacker = '203.0.113.7';
  // Each email fails once, so no account counter gets near its limit: only the IP counter grows.
  for (let i = 1; i <= 10; i++) t.equal((await attempt(ctx, uniqueEmail('spray'), WRONG, attacker)).status, 401, `IP failure ${i}`);
  t.equal((await attempt(ctx, uniqueEmail('spray'), WRONG, attacker)).status, 401, 'the 11th failure is answered, and locks the IP');
  const fromAttacker = await attempt(ctx, victim.email, victim.password, attacker);
  assertThrottled(t, fromAttacker, 2);
  const fromElsewhere = await attempt(ctx, victim.email, victim.password, '198.51.100.9');
  t.equal(fromElsewhere.status, 200, 'the real user on another IP logs in');
  const sessions = await ctx.db.selectFrom('sessions').select(['ip']).execute();
  t.same(
    sessions.map((s) => s.ip),
    ['198.51.100.9'],
  );
});

t.test('a burst of parallel guesses is counted as a burst: free attempts plus one, the rest 429', async (t) => {
  const { ctx } = await setup(t);
  const user = await createVerifiedUser(ctx);
  const results = await Promise.all(Array.from({ length: 30 }, () => attempt(ctx, user.email, WRONG)));
  const judged = results.filter((r) => r.status === 401).length;
  const throttled = results.filter((r) => r.status === 429).length;
  t.equal(judged, 4, '3 free attempts and the one that took the lock were checked');
  t.equal(throttled, 26, 'every other guess was refused unchecked');
});
