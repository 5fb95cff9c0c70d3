/**
 * The second-factor lock (MFA_ACCOUNT_LOCK_FAILURES): wrong second factors in a row, across the
 * budget's windows, lock every second-factor check of the account (login, step-up, challenges)
 * until the password is reset or changed; the owner is emailed once and it is audited.
 */
import t, { type Test } from 'tap';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import { waitForLinkToken, type TestApp } from '../../helpers/app.js';
import { eventually } from '../../helpers/eventually.js';
import { assertProblem } from '../../helpers/problem.js';
import { manualClock, mfaToken, mfaTokens, secondStep, statusCounts, userWithTotp, type Bearer } from './totp-support.js';
import { post, register, securityKey, webauthnApp } from './webauthn-support.js';

const LOCK = 6;
const FREE = 3;
const WINDOW = 60;
const LOCK_SUBJECT = 'Signing in to your account is locked';

type Clock = ReturnType<typeof manualClock>;
type User = Awaited<ReturnType<typeof userWithTotp>>;

async function lockoutApp(t: Test, options: { kv?: 'memory' | 'redis'; free?: number } = {}) {
  const clock = manualClock();
  const env = {
    MFA_ACCOUNT_LOCK_FAILURES: String(LOCK),
    MFA_ACCOUNT_FREE_FAILURES: String(options.free ?? FREE),
    MFA_FAILURE_WINDOW_SECONDS: String(WINDOW),
  };
  // The in-process store follows the clock, so moving it ends the budget's windows.
  const ctx = await webauthnApp(t, { clock, kv: options.kv ?? 'memory', env });
  return { ctx, clock };
}

/** A code the app shows neither now nor within two steps either side. */
function wrongCode(secret: string, clock: Clock): string {
  const near = new Set([-2, -1, 0, 1, 2].map((step) => totpCode(secret, clock.seconds() + step * 30)));
  for (let n = 123456; ; n++) if (!near.has(String(n))) return String(n);
}

/** The right code for a step not used before (the clock moves on one step first). */
function rightCode(secret: string, clock: Clock): string {
  clock.advance(30);
  return totpCode(secret, clock.seconds());
}

const reauthenticate = (ctx: TestApp, auth: Bearer, payload: Record<string, unknown>) =>
  ctx.app.inject({ method: 'POST', url: '/v1/me/reauthenticate', headers: auth, payload });

/** `n` wrong codes on one new mfa_token, each checked (401), in the window the clock is in. */
async function wrongAtLogin(t: Test, ctx: TestApp, user: User, clock: Clock, n: number, label: string) {
  const token = await mfaToken(ctx, user);
  for (let i = 0; i < n; i++) {
    assertProblem(
      t,
      await secondStep(ctx, token, 'totp', wrongCode(user.secret, clock)),
      401,
      'MFA_CODE_INVALID',
      `${label}: wrong ${i + 1}`,
    );
  }
}

async function wrongAtReauth(t: Test, ctx: TestApp, user: User, clock: Clock, label: string) {
  const res = await reauthenticate(ctx, user.auth, { method: 'totp', code: wrongCode(user.secret, clock) });
  assertProblem(t, res, 401, 'MFA_CODE_INVALID', label);
}

async function auditRows(ctx: TestApp, userId: string, action: string) {
  return ctx.db.selectFrom('audit_events').selectAll().where('actor_id', '=', userId).where('action', '=', action).orderBy('seq').execute();
}

/** Lock mails to the user, once at least `atLeast` arrived (mail goes out after the response). */
async function lockMails(ctx: TestApp, email: string, atLeast = 1) {
  const mine = () => ctx.mail.sent.filter((m) => m.to === email && m.subject === LOCK_SUBJECT);
  if (atLeast > 0) await eventually(() => mine().length >= atLeast, { message: `no lock email to ${email}` });
  // Give a second one (which must not come) the time to arrive.
  await new Promise((resolve) => setTimeout(resolve, 100));
  return mine();
}

t.test('wrong factors in a row lock across windows: the right code is refused everywhere until a password reset', async (t) => {
  const { ctx, clock } = await lockoutApp(t);
  const user = await userWithTotp(ctx, clock);
  // A security key as well (added while the session is fresh), so that the challenges can be asked for.
  t.equal((await register(ctx, user.auth, securityKey())).statusCode, 200);

  // First window: three wrong codes at login, then the window's pause (a pause is not a failure).
  const token = await mfaToken(ctx, user);
  for (let i = 0; i < FREE; i++) {
    assertProblem(t, await secondStep(ctx, token, 'totp', wrongCode(user.secret, clock)), 401, 'MFA_CODE_INVALID', `window 1: ${i + 1}`);
  }
  assertProblem(t, await secondStep(ctx, token, 'totp', wrongCode(user.secret, clock)), 429, 'MFA_THROTTLED', 'window 1 is spent');
  t.same(await lockMails(ctx, user.email, 0), [], 'no lock yet');

  // Second window: two more at login and one at step-up; the sixth in a row is still checked.
  clock.advance(WINDOW + 1);
  await wrongAtLogin(t, ctx, user, clock, 2, 'window 2');
  await wrongAtReauth(t, ctx, user, clock, 'window 2: the sixth in a row, at step-up');

  // Third window (no pause any more): the second step is locked, whatever the proof.
  clock.advance(WINDOW + 1);
  const atLogin = await secondStep(ctx, await mfaToken(ctx, user), 'totp', rightCode(user.secret, clock));
  const problem = assertProblem(t, atLogin, 429, 'MFA_LOCKED', 'the right code at login');
  t.match(problem.detail, /reset your password/i, 'the way out');
  t.notOk(atLogin.headers['retry-after'], 'waiting does not help: no Retry-After');
  assertProblem(
    t,
    await secondStep(ctx, await mfaToken(ctx, user), 'backup_code', user.backupCodes[0]!),
    429,
    'MFA_LOCKED',
    'a backup code',
  );
  assertProblem(
    t,
    await reauthenticate(ctx, user.auth, { method: 'totp', code: rightCode(user.secret, clock) }),
    429,
    'MFA_LOCKED',
    'the right code at step-up',
  );
  assertProblem(
    t,
    await post(ctx, '/v1/login/mfa/webauthn/options', { mfa_token: await mfaToken(ctx, user) }),
    429,
    'MFA_LOCKED',
    'login challenge',
  );
  const challenge = await post(ctx, '/v1/me/reauthenticate/challenge', { method: 'webauthn' }, user.auth);
  assertProblem(t, challenge, 429, 'MFA_LOCKED', 'step-up challenge');

  // Nothing was checked: the backup code is unspent, no session opened, no failure recorded.
  const used = await ctx.db.selectFrom('mfa_backup_codes').select('used_at').where('user_id', '=', user.id).execute();
  t.equal(used.filter((c) => c.used_at).length, 0, 'no backup code spent');
  t.equal((await ctx.db.selectFrom('sessions').select('id').where('user_id', '=', user.id).execute()).length, 1, 'only the first session');

  // The owner heard of it once, and it is audited once.
  const mails = await lockMails(ctx, user.email);
  t.equal(mails.length, 1, 'one email');
  t.match(mails[0]!.text, `${LOCK} wrong second-factor codes in a row`);
  t.match(mails[0]!.text, /reset your password/);
  const locked = await eventually(async () => {
    const rows = await auditRows(ctx, user.id, 'mfa.locked');
    return rows.length > 0 && rows;
  });
  t.equal(locked.length, 1, 'one mfa.locked event');
  t.match(locked[0]!.data, { failures: LOCK });
  t.equal((await auditRows(ctx, user.id, 'mfa.verification_failed')).length, LOCK, 'the refused proofs were not checked');

  // A password reset unlocks: the right code works again (and a wrong one is checked again).
  const forgot = await ctx.app.inject({ method: 'POST', url: '/v1/password/forgot', payload: { email: user.email } });
  t.equal(forgot.statusCode, 202);
  const resetToken = await waitForLinkToken(ctx, user.email, 'reset-password');
  const password = 'a brand new passphrase 42';
  const reset = await ctx.app.inject({ method: 'POST', url: '/v1/password/reset', payload: { token: resetToken, password } });
  t.equal(reset.statusCode, 200, reset.body);
  const next = { email: user.email, password };
  await wrongAtLogin(t, ctx, { ...user, ...next }, clock, 1, 'after the reset');
  const after = await secondStep(ctx, await mfaToken(ctx, next), 'totp', rightCode(user.secret, clock));
  t.equal(after.statusCode, 200, `the right code signs in after the reset: ${after.body}`);
  t.equal((await lockMails(ctx, user.email)).length, 1, 'still one email');
});

t.test('a password change also unlocks; a session locked out of step-up can still make it', async (t) => {
  const { ctx, clock } = await lockoutApp(t);
  const user = await userWithTotp(ctx, clock);
  for (let w = 0; w < LOCK / FREE; w++) {
    for (let i = 0; i < FREE; i++) await wrongAtReauth(t, ctx, user, clock, `window ${w + 1}: wrong ${i + 1}`);
    clock.advance(WINDOW + 1);
  }
  const right = () => reauthenticate(ctx, user.auth, { method: 'totp', code: rightCode(user.secret, clock) });
  assertProblem(t, await right(), 429, 'MFA_LOCKED', 'locked by step-up failures alone');
  t.equal((await lockMails(ctx, user.email)).length, 1);

  const change = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/password',
    headers: user.auth,
    payload: { current_password: user.password, new_password: 'another fresh passphrase 7' },
  });
  t.equal(change.statusCode, 200, change.body);
  const res = await right();
  t.equal(res.statusCode, 200, `step-up works again: ${res.body}`);
  t.match(res.json(), { aal: 2 });
});

t.test('a right factor before the lock ends the streak: N-1 wrong, a right one, N-1 wrong does not lock', async (t) => {
  const { ctx, clock } = await lockoutApp(t);
  const user = await userWithTotp(ctx, clock);
  const fiveWrong = async (label: string) => {
    await wrongAtLogin(t, ctx, user, clock, FREE, `${label}, window 1`);
    clock.advance(WINDOW + 1);
    await wrongAtLogin(t, ctx, user, clock, LOCK - 1 - FREE, `${label}, window 2`);
    clock.advance(WINDOW + 1);
  };

  await fiveWrong('before');
  const ok = await secondStep(ctx, await mfaToken(ctx, user), 'totp', rightCode(user.secret, clock));
  t.equal(ok.statusCode, 200, `a right code after ${LOCK - 1} wrong ones: ${ok.body}`);
  await fiveWrong('after');
  // Ten wrong in all, five in a row: the next is still checked. It makes six in a row: locked.
  await wrongAtLogin(t, ctx, user, clock, 1, `the ${LOCK}th in a row since the right one`);
  t.equal((await lockMails(ctx, user.email)).length, 1, 'the lock engaged only now');
  const locked = await secondStep(ctx, await mfaToken(ctx, user), 'totp', rightCode(user.secret, clock));
  assertProblem(t, locked, 429, 'MFA_LOCKED', `${LOCK} in a row lock`);
});

t.test('a burst of guesses at once through Redis: only the tries up to the lock are checked, one email', async (t) => {
  // A window large enough not to pause anything: only the lock stops the burst.
  const { ctx, clock } = await lockoutApp(t, { kv: 'redis', free: 1000 });
  const user = await userWithTotp(ctx, clock);
  const tokens = await mfaTokens(4, () => mfaToken(ctx, user));
  const answers = await Promise.all(
    tokens.flatMap((token) => Array.from({ length: 5 }, () => secondStep(ctx, token, 'totp', wrongCode(user.secret, clock)))),
  );
  t.same(statusCounts(answers), { 401: LOCK, 429: 20 - LOCK }, 'six checked, the rest refused unchecked');
  for (const r of answers.filter((a) => a.statusCode === 429)) assertProblem(t, r, 429, 'MFA_LOCKED');
  t.equal((await lockMails(ctx, user.email)).length, 1, 'one email');
  const right = await secondStep(ctx, await mfaToken(ctx, user), 'totp', rightCode(user.secret, clock));
  assertProblem(t, right, 429, 'MFA_LOCKED', 'the right code after the burst');
  await eventually(async () => (await auditRows(ctx, user.id, 'mfa.locked')).length > 0);
  t.equal((await auditRows(ctx, user.id, 'mfa.locked')).length, 1, 'one mfa.locked event');
});
