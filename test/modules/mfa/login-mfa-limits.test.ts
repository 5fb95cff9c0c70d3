import t from 'tap';
import { buildTestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { createMfaService } from '../../../src/modules/mfa/service.js';
import { createCredentialMarks } from '../../../src/modules/mfa/credential-marks.js';
import { createMfaStore } from '../../../src/modules/mfa/store.js';
import { createBackupCodes } from '../../../src/modules/mfa/factors/backup-codes.js';
import { createLoginAttempts } from '../../../src/modules/mfa/login-attempts.js';
import { createFailureBudget } from '../../../src/modules/mfa/failure-budget.js';
import { createLoginService } from '../../../src/modules/login/service.js';
import type { SecondFactor } from '../../../src/modules/mfa/factor.js';
import {
  auditOf,
  firstStep,
  manualClock,
  nextTotp,
  secondStep,
  sessionCount,
  statusCounts,
  userWithTotp,
  userWithTotpAndEarlierSession,
} from './flow-support.js';

const context = { ip: '203.0.113.9', userAgent: 'limits-test' };

t.test('an mfa_token dies after five minutes in the in-process store that follows the clock', async (t) => {
  const clock = manualClock();
  const ctx = await buildTestApp(t, { kv: 'memory', clock });
  const user = await userWithTotp(ctx, clock);
  const { mfa_token } = await firstStep(ctx, user);
  clock.advance(301);
  const before = await sessionCount(ctx, user.id);
  const res = await secondStep(ctx, mfa_token, 'totp', nextTotp(user.secret, clock));
  assertProblem(t, res, 401, 'MFA_TOKEN_INVALID');
  t.equal(await sessionCount(ctx, user.id), before, 'no session');
  // A fresh login still works: only the old token is dead.
  const again = await firstStep(ctx, user);
  t.equal((await secondStep(ctx, again.mfa_token, 'totp', nextTotp(user.secret, clock))).statusCode, 200);
});

t.test('the account budget holds against a burst of guesses spread over many mfa_tokens at once', async (t) => {
  const clock = manualClock();
  const ctx = await buildTestApp(t, { kv: 'redis', clock, env: { MFA_ACCOUNT_FREE_FAILURES: '3' } });
  const user = await userWithTotp(ctx, clock);
  const tokens = await Promise.all([1, 2, 3, 4].map(() => firstStep(ctx, user)));
  // 20 wrong codes at once: five per token, four tokens.
  const guesses = tokens.flatMap(({ mfa_token }) =>
    Array.from({ length: 5 }, (_, i) => secondStep(ctx, mfa_token, 'totp', String(100000 + i * 7919).slice(0, 6))),
  );
  const answers = await Promise.all(guesses);
  t.same(statusCounts(answers), { 401: 3, 429: 17 }, 'three guesses were checked, every other one was refused unchecked');
  for (const r of answers.filter((a) => a.statusCode === 429)) {
    const body = assertProblem(t, r, 429, 'MFA_THROTTLED');
    t.ok(Number(r.headers['retry-after']) > 0, 'Retry-After');
    t.ok(Number(body.retry_after) > 0);
  }
  // Even the right code waits now: the budget is per account, not per token.
  const right = await secondStep(ctx, tokens[0].mfa_token, 'totp', nextTotp(user.secret, clock));
  assertProblem(t, right, 429, 'MFA_THROTTLED', 'the right code is refused while the budget is spent');
  const failures = await auditOf(ctx, user.id, (rows) => rows.filter((r) => r.action === 'mfa.verification_failed').length >= 3);
  t.equal(failures.filter((r) => r.action === 'mfa.verification_failed').length, 3, 'three failures audited');
});

t.test('a right proof gives its try back to the budget; wrong ones keep theirs', async (t) => {
  const clock = manualClock();
  const ctx = await buildTestApp(t, { kv: 'memory', clock, env: { MFA_ACCOUNT_FREE_FAILURES: '2' } });
  const user = await userWithTotp(ctx, clock);
  for (let i = 0; i < 4; i++) {
    const { mfa_token } = await firstStep(ctx, user);
    t.equal((await secondStep(ctx, mfa_token, 'totp', nextTotp(user.secret, clock))).statusCode, 200, `right code ${i + 1}`);
  }
  const { mfa_token } = await firstStep(ctx, user);
  assertProblem(t, await secondStep(ctx, mfa_token, 'totp', '000000'), 401, 'MFA_CODE_INVALID', 'first wrong');
  assertProblem(t, await secondStep(ctx, mfa_token, 'totp', '000001'), 401, 'MFA_CODE_INVALID', 'second wrong');
  assertProblem(t, await secondStep(ctx, mfa_token, 'totp', '000002'), 429, 'MFA_THROTTLED', 'the third is over the budget');
  clock.advance(15 * 60);
  const later = await firstStep(ctx, user);
  t.equal((await secondStep(ctx, later.mfa_token, 'totp', nextTotp(user.secret, clock))).statusCode, 200, 'the window ends');
});

t.test('an enrolment-purpose mfa_token cannot complete a login (org policy uses it to force a set-up)', async (t) => {
  const clock = manualClock();
  const ctx = await buildTestApp(t, { kv: 'memory', clock });
  const user = await userWithTotp(ctx, clock);
  const mfa = ctx.services.mfa;
  const { password_hash } = await ctx.db.selectFrom('users').select('password_hash').where('id', '=', user.id).executeTakeFirstOrThrow();
  const open = () =>
    mfa.openLogin({ userId: user.id, orgId: null, mode: 'token', amr: ['pwd'], purpose: 'enroll', methods: [] }, password_hash);

  const token = await open();
  await t.rejects(mfa.completeLogin(token, 'totp', { code: nextTotp(user.secret, clock) }, context), { code: 'MFA_METHOD_UNAVAILABLE' });
  await t.rejects(mfa.completeLogin(token, 'backup_code', { code: user.backupCodes[0] }, context), { code: 'MFA_METHOD_UNAVAILABLE' });
  await t.rejects(mfa.loginChallenge(token, 'sms', context), { code: 'MFA_METHOD_UNAVAILABLE' });

  const overHttp = await secondStep(ctx, await open(), 'totp', nextTotp(user.secret, clock));
  assertProblem(t, overHttp, 400, 'MFA_METHOD_UNAVAILABLE', 'POST /v1/login/mfa');
  const codes = await ctx.db.selectFrom('mfa_backup_codes').select('used_at').where('user_id', '=', user.id).execute();
  t.equal(codes.filter((c) => c.used_at).length, 0, 'no backup code was spent');
  t.equal(await sessionCount(ctx, user.id), 1, 'only the session the factor was set up from');
});

t.test('fail closed: a confirmed factor whose method cannot be used still stops a password-only login', async (t) => {
  const clock = manualClock();
  const ctx = await buildTestApp(t, { kv: 'memory', clock });
  const user = await userWithTotpAndEarlierSession(ctx, clock);
  await ctx.db.deleteFrom('mfa_backup_codes').where('user_id', '=', user.id).execute();
  // The same rules with a factor list in which nothing fits this account's confirmed factor (as
  // when a factor's provider is switched off): no method is on offer, yet a factor is on.
  const store = createMfaStore(ctx.db);
  const unusable: SecondFactor = { method: 'sms', availableWith: () => false, verify: async () => null };
  const mfa = createMfaService({
    store,
    factors: [unusable],
    backupCodes: createBackupCodes({ store, clock, secrets: [Buffer.alloc(32, 1)] }),
    attempts: createLoginAttempts(ctx.kv),
    credentials: createCredentialMarks(ctx.kv),
    budget: createFailureBudget(ctx.kv, { maxFailures: 20, windowSeconds: 900, lockAfter: 100 }),
    notices: { send: () => {} },
    sessions: ctx.services.sessions,
    accounts: ctx.services.accounts,
    audit: ctx.services.audit,
    clock,
  });
  t.same(await mfa.loginMethods(user.id), [], 'no usable method');
  const loginService = createLoginService({
    accounts: ctx.services.accounts,
    sessions: ctx.services.sessions,
    mfa,
    orgs: ctx.services.orgs,
    audit: ctx.services.audit,
  });
  const before = await sessionCount(ctx, user.id);
  const result = await loginService.login({ email: user.email, password: user.password }, context);
  t.equal(result.status, 'mfa_required', 'the password alone is still not enough');
  t.same(result.status === 'mfa_required' ? result.methods : null, []);
  t.equal(await sessionCount(ctx, user.id), before, 'no session');
  // Step-up too: a recent aal1 session (the password only, from before the factor) is not enough.
  await t.rejects(mfa.assertRecentAuth(user.id, user.earlier.tokens.session_id), {
    code: 'REAUTHENTICATION_REQUIRED',
    data: { required_aal: 2 },
  });
});
