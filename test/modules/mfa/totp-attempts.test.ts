import t from 'tap';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { eventually } from '../../helpers/eventually.js';
import { auditActions, manualClock, mfaToken, mfaTokens, secondStep, statusCounts, userWithTotp } from './totp-support.js';

/** A six-digit code that is none of the codes the window accepts now. */
function wrongCode(secret: string, now: number, seed: number): string {
  const valid = new Set([now - 30, now, now + 30].map((s) => totpCode(secret, s)));
  for (let n = seed; ; n = (n + 7919) % 1_000_000) {
    const code = String(n).padStart(6, '0');
    if (!valid.has(code)) return code;
  }
}

const failures = async (ctx: TestApp, userId: string) =>
  (await auditActions(ctx, userId)).filter((a) => a === 'mfa.verification_failed').length;

t.test('five wrong codes kill the mfa_token: attempts_remaining 4..0, then even the right code is refused', async (t) => {
  const clock = manualClock();
  const ctx = await buildTestApp(t, { kv: 'redis', clock });
  const user = await userWithTotp(ctx, clock);
  clock.advance(30);
  const now = clock.nowSeconds();
  const token = await mfaToken(ctx, user);
  for (let i = 1; i <= 5; i++) {
    const res = await secondStep(ctx, token, 'totp', wrongCode(user.secret, now, i * 111_111));
    const problem = assertProblem(t, res, 401, 'MFA_CODE_INVALID', `wrong code ${i}`);
    t.equal(problem.attempts_remaining, 5 - i, `wrong code ${i}: ${5 - i} tries left`);
  }
  const right = totpCode(user.secret, now);
  assertProblem(t, await secondStep(ctx, token, 'totp', right), 401, 'MFA_TOKEN_INVALID', 'the right code on the dead token');
  assertProblem(t, await secondStep(ctx, token, 'backup_code', user.backupCodes[0]!), 401, 'MFA_TOKEN_INVALID', 'a backup code on it');
  // None but the session that confirmed the app (aal2 since): the dead token opened no session.
  const sessions = await ctx.db.selectFrom('sessions').select(['id', 'aal']).where('user_id', '=', user.id).execute();
  t.same(sessions, [{ id: user.tokens.session_id, aal: 2 }], 'no session from the token');
  t.equal(await eventually(async () => (await failures(ctx, user.id)) === 5 && 5), 5, 'five failures audited');

  // The code was not spent by the dead token: a new login uses it.
  t.equal((await secondStep(ctx, await mfaToken(ctx, user), 'totp', right)).statusCode, 200, 'a fresh login with the right code');
});

t.test('10 wrong codes at once on one token: at most five are checked', async (t) => {
  const clock = manualClock();
  const ctx = await buildTestApp(t, { kv: 'redis', clock });
  const user = await userWithTotp(ctx, clock);
  clock.advance(30);
  const now = clock.nowSeconds();
  const token = await mfaToken(ctx, user);
  const answers = await Promise.all(
    Array.from({ length: 10 }, (_, i) => secondStep(ctx, token, 'totp', wrongCode(user.secret, now, i * 99_991))),
  );
  const codes = answers.map((a) => a.json().code as string);
  t.equal(codes.filter((c) => c === 'MFA_CODE_INVALID').length, 5, 'five evaluated');
  t.equal(codes.filter((c) => c === 'MFA_TOKEN_INVALID').length, 5, 'the rest refused unread');
  t.same(statusCounts(answers), { 401: 10 });
  t.same(
    answers
      .filter((a) => a.json().code === 'MFA_CODE_INVALID')
      .map((a) => a.json().attempts_remaining)
      .sort(),
    [0, 1, 2, 3, 4],
    'each evaluated try had its own slot',
  );
  assertProblem(t, await secondStep(ctx, token, 'totp', totpCode(user.secret, now)), 401, 'MFA_TOKEN_INVALID', 'the token is dead');
  await eventually(async () => (await failures(ctx, user.id)) >= 5, { message: 'failures audited' });
  t.equal(await failures(ctx, user.id), 5, 'exactly five failures audited, so five counted');
});

t.test('the account-wide budget: wrong codes across mfa_tokens lead to 429 MFA_THROTTLED', async (t) => {
  const clock = manualClock();
  // A memory KV on the test clock, so the budget window can pass without waiting.
  const ctx = await buildTestApp(t, { kv: 'memory', clock, env: { MFA_ACCOUNT_FREE_FAILURES: '3', MFA_FAILURE_WINDOW_SECONDS: '900' } });
  const user = await userWithTotp(ctx, clock);
  clock.advance(30);
  const now = clock.nowSeconds();
  const [first, second] = await mfaTokens(2, () => mfaToken(ctx, user));
  assertProblem(t, await secondStep(ctx, first!, 'totp', wrongCode(user.secret, now, 1)), 401, 'MFA_CODE_INVALID', 'token 1, wrong 1');
  assertProblem(t, await secondStep(ctx, first!, 'totp', wrongCode(user.secret, now, 2)), 401, 'MFA_CODE_INVALID', 'token 1, wrong 2');
  assertProblem(t, await secondStep(ctx, second!, 'totp', wrongCode(user.secret, now, 3)), 401, 'MFA_CODE_INVALID', 'token 2, wrong 3');

  const right = totpCode(user.secret, now);
  const throttled = await secondStep(ctx, second!, 'totp', right);
  const problem = assertProblem(t, throttled, 429, 'MFA_THROTTLED', 'token 2, even with the right code');
  t.ok(
    typeof problem.retry_after === 'number' && problem.retry_after > 0 && problem.retry_after <= 900,
    `retry_after ${problem.retry_after}`,
  );
  t.equal(throttled.headers['retry-after'], String(problem.retry_after), 'Retry-After header');
  assertProblem(t, await secondStep(ctx, await mfaToken(ctx, user), 'totp', right), 429, 'MFA_THROTTLED', 'a brand-new token');
  assertProblem(
    t,
    await secondStep(ctx, await mfaToken(ctx, user), 'backup_code', user.backupCodes[0]!),
    429,
    'MFA_THROTTLED',
    'a backup code',
  );
  const remaining = await ctx.db
    .selectFrom('mfa_backup_codes')
    .select('used_at')
    .where('user_id', '=', user.id)
    .where('used_at', 'is', null)
    .execute();
  t.equal(remaining.length, 10, 'the throttled backup code was not spent');

  // Once the window has passed, the right code works again.
  clock.advance(901);
  const later = totpCode(user.secret, clock.nowSeconds());
  t.equal((await secondStep(ctx, await mfaToken(ctx, user), 'totp', later)).statusCode, 200, 'after the window');
});
