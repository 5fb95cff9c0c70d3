import t from 'tap';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import { buildTestApp, testKv } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { decode } from '../tokens/forge.js';
import { hasOathtool, manualClock, mfaToken, mfaTokens, oathtool, secondStep, statusCounts, userWithTotp } from './totp-support.js';

const clock = manualClock();
const ctx = await buildTestApp(t, { kv: 'redis', clock });

const step = (seconds: number) => Math.floor(seconds / 30);
const lastUsedStep = async (userId: string) =>
  (await ctx.db.selectFrom('mfa_factors').select('last_used_step').where('user_id', '=', userId).executeTakeFirstOrThrow()).last_used_step;
/** The aal2 sessions logins opened (not counting the session that confirmed the app, aal2 since). */
const aal2Logins = async (user: { id: string; tokens: { session_id: string } }) =>
  Number(
    (
      await ctx.db
        .selectFrom('sessions')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('user_id', '=', user.id)
        .where('aal', '=', 2)
        .where('id', '<>', user.tokens.session_id)
        .executeTakeFirstOrThrow()
    ).n,
  );

t.test(
  'codes from oathtool: ±1 step accepted, ±2 refused, end to end',
  { skip: !hasOathtool && 'oathtool is not installed (apt-get install oathtool)' },
  async (t) => {
    // Two users so a refusal can only come from the window, never from the replay guard.
    const early = await userWithTotp(ctx, clock);
    const late = await userWithTotp(ctx, clock);
    clock.advance(300); // past the steps the confirms spent
    for (const offsetInStep of [0, 29]) {
      const T = step(clock.nowSeconds()) * 30 + 30 * 10 + offsetInStep; // a fresh step, at its first or last second
      clock.set(T);
      const label = `at ${offsetInStep} s into the step`;
      for (const user of [early, late]) {
        const token = await mfaToken(ctx, user);
        for (const off of [-60, +60, -31 - offsetInStep, 60 - offsetInStep]) {
          // -31-o and 60-o are the first seconds of steps N-2 and N+2.
          assertProblem(
            t,
            await secondStep(ctx, token, 'totp', oathtool(user.secret, T + off)),
            401,
            'MFA_CODE_INVALID',
            `${label}: T${off}`,
          );
        }
      }
      // Accepted in increasing step order (a step is used once; an earlier one is refused after).
      const prev = await secondStep(ctx, await mfaToken(ctx, early), 'totp', oathtool(early.secret, T - 30));
      t.equal(prev.statusCode, 200, `${label}: the previous step's code (${prev.body.slice(0, 80)})`);
      t.equal(await lastUsedStep(early.id), String(step(T) - 1));
      const cur = await secondStep(ctx, await mfaToken(ctx, late), 'totp', oathtool(late.secret, T));
      t.equal(cur.statusCode, 200, `${label}: the current step's code`);
      const next = await secondStep(ctx, await mfaToken(ctx, early), 'totp', oathtool(early.secret, T + 30));
      t.equal(next.statusCode, 200, `${label}: the next step's code`);
      t.equal(await lastUsedStep(early.id), String(step(T) + 1));
      const { claims } = decode(next.json().access_token);
      t.equal(claims.aal, 2, 'aal 2');
      t.same(claims.amr, ['pwd', 'otp'], 'amr pwd + otp');
      clock.advance(120);
    }
  },
);

t.test('the same code twice, one after the other: the second is refused', async (t) => {
  const user = await userWithTotp(ctx, clock);
  clock.advance(30);
  const code = totpCode(user.secret, clock.nowSeconds());
  t.equal((await secondStep(ctx, await mfaToken(ctx, user), 'totp', code)).statusCode, 200, 'first use');
  const again = await secondStep(ctx, await mfaToken(ctx, user), 'totp', code);
  assertProblem(t, again, 401, 'MFA_CODE_INVALID', 'second use');
  t.equal(again.json().attempts_remaining, 4, 'it counted as a wrong try');
  clock.advance(10); // later within the same step: still spent
  assertProblem(t, await secondStep(ctx, await mfaToken(ctx, user), 'totp', code), 401, 'MFA_CODE_INVALID', 'later in the step');
  clock.advance(20); // the next step has its own code
  t.equal((await secondStep(ctx, await mfaToken(ctx, user), 'totp', totpCode(user.secret, clock.nowSeconds()))).statusCode, 200);
  t.equal(await aal2Logins(user), 2, 'two logins, two aal2 sessions');
});

t.test('the code used to confirm cannot log in', async (t) => {
  const user = await userWithTotp(ctx, clock); // confirmed with the code of the current step
  const code = totpCode(user.secret, clock.nowSeconds());
  assertProblem(t, await secondStep(ctx, await mfaToken(ctx, user), 'totp', code), 401, 'MFA_CODE_INVALID');
  assertProblem(
    t,
    await secondStep(ctx, await mfaToken(ctx, user), 'totp', totpCode(user.secret, clock.nowSeconds() - 30)),
    401,
    'MFA_CODE_INVALID',
    'nor the step before it',
  );
  t.equal(await aal2Logins(user), 0);
});

t.test('a code of a step before the last accepted one is refused, though still in the window', async (t) => {
  const user = await userWithTotp(ctx, clock);
  clock.advance(60);
  const now = clock.nowSeconds();
  // The next step's code is accepted (a phone a little ahead) ...
  t.equal((await secondStep(ctx, await mfaToken(ctx, user), 'totp', totpCode(user.secret, now + 30))).statusCode, 200);
  // ... after which the current and previous steps' codes are history.
  for (const [what, at] of [
    ['current step', now],
    ['previous step', now - 30],
  ] as const) {
    assertProblem(t, await secondStep(ctx, await mfaToken(ctx, user), 'totp', totpCode(user.secret, at)), 401, 'MFA_CODE_INVALID', what);
  }
  t.equal(await lastUsedStep(user.id), String(step(now) + 1), 'the last accepted step did not move back');

  // The same with the current step accepted: the previous step's code is then refused.
  const other = await userWithTotp(ctx, clock);
  clock.advance(60);
  const later = clock.nowSeconds();
  t.equal((await secondStep(ctx, await mfaToken(ctx, other), 'totp', totpCode(other.secret, later))).statusCode, 200, 'current step');
  assertProblem(
    t,
    await secondStep(ctx, await mfaToken(ctx, other), 'totp', totpCode(other.secret, later - 30)),
    401,
    'MFA_CODE_INVALID',
    'then the previous step',
  );
  t.equal(await lastUsedStep(other.id), String(step(later)));
});

t.test('an instance whose clock is behind the last accepted step answers 401, not 500', async (t) => {
  const user = await userWithTotp(ctx, clock);
  clock.advance(60);
  const now = clock.nowSeconds();
  t.equal((await secondStep(ctx, await mfaToken(ctx, user), 'totp', totpCode(user.secret, now + 30))).statusCode, 200);
  // Another instance, or this one after an NTP correction, is two steps behind.
  clock.set(now - 60);
  for (const at of [now - 90, now - 60, now - 30]) {
    assertProblem(
      t,
      await secondStep(ctx, await mfaToken(ctx, user), 'totp', totpCode(user.secret, at)),
      401,
      'MFA_CODE_INVALID',
      `code of ${at - now}`,
    );
  }
  clock.set(now + 60);
  t.equal(
    (await secondStep(ctx, await mfaToken(ctx, user), 'totp', totpCode(user.secret, now + 60))).statusCode,
    200,
    'a later step works',
  );
  clock.advance(60);
});

t.test('the same code on 10 mfa_tokens at once: exactly one login', async (t) => {
  const user = await userWithTotp(ctx, clock);
  clock.advance(30);
  const tokens = await mfaTokens(10, () => mfaToken(ctx, user));
  const code = totpCode(user.secret, clock.nowSeconds());
  const answers = await Promise.all(tokens.map((token) => secondStep(ctx, token, 'totp', code)));
  t.same(statusCounts(answers), { 200: 1, 401: 9 }, answers.map((a) => a.body.slice(0, 100)).join('\n'));
  for (const a of answers.filter((a) => a.statusCode === 401)) t.equal(a.json().code, 'MFA_CODE_INVALID');
  t.equal(await aal2Logins(user), 1, 'one aal2 session');
});

t.test('the same code split across two instances sharing Postgres and Redis: exactly one login', async (t) => {
  const kv = await testKv('redis');
  t.teardown(() => kv.close());
  const a = await buildTestApp(t, { kv, clock });
  const b = await buildTestApp(t, { kv, clock, shareDb: { db: a.db, url: a.dbUrl } });
  const user = await userWithTotp(a, clock);
  clock.advance(30);
  // Tokens opened on either instance, each completed on the other one.
  const tokens = await mfaTokens(10, (i) => mfaToken(i % 2 ? a : b, user));
  const code = totpCode(user.secret, clock.nowSeconds());
  const answers = await Promise.all(tokens.map((token, i) => secondStep(i % 2 ? b : a, token, 'totp', code)));
  t.same(statusCounts(answers), { 200: 1, 401: 9 }, answers.map((r) => r.body.slice(0, 100)).join('\n'));
  const sessions = await a.db
    .selectFrom('sessions')
    .select('aal')
    .where('user_id', '=', user.id)
    .where('aal', '=', 2)
    .where('id', '<>', user.tokens.session_id)
    .execute();
  t.equal(sessions.length, 1, 'one aal2 session in the shared database (besides the one that confirmed the app)');
  clock.advance(30);
  const next = totpCode(user.secret, clock.nowSeconds());
  t.equal((await secondStep(b, await mfaToken(a, user), 'totp', next)).statusCode, 200, 'a token from one instance completes on the other');
});

t.test('a code spent at login cannot be spent again to reauthenticate', async (t) => {
  const user = await userWithTotp(ctx, clock);
  clock.advance(30);
  const code = totpCode(user.secret, clock.nowSeconds());
  t.equal((await secondStep(ctx, await mfaToken(ctx, user), 'totp', code)).statusCode, 200);
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/me/reauthenticate', headers: user.auth, payload: { method: 'totp', code } });
  assertProblem(t, res, 401, 'MFA_CODE_INVALID');
});
