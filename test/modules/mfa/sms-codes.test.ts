import t from 'tap';
import { offsetClock } from '../../../src/infra/clock.js';
import { buildTestApp, loggedInUser } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import {
  completeLogin,
  confirmPhone,
  enrolPhone,
  lastCode,
  mfaToken,
  PHONE,
  reauthChallenge,
  reauthenticate,
  sendLoginCode,
  smsLogin,
  userWithPhone,
  wrongCode,
} from '../../helpers/sms-flow.js';

// Redis keeps its own time: a code still in the store after the clock moved ten minutes proves
// the factor itself enforces the life, not only the store's expiry.
const clock = offsetClock();
const ctx = await buildTestApp(t, { kv: 'redis', clock, env: { SMS_PER_NUMBER_PER_HOUR: '1000', SMS_PER_USER_PER_HOUR: '1000' } });
const factorRows = (userId: string) => ctx.db.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).execute();
const MINUTE = 60_000;

t.test('a code is good for ten minutes: at 9:50 it works, at 10:01 it does not (step-up and enrolment)', async (t) => {
  const user = await userWithPhone(ctx);
  const early = await smsLogin(ctx, user);
  await reauthChallenge(ctx, early.auth);
  clock.advance(9 * MINUTE + 50_000);
  const inTime = await reauthenticate(ctx, early.auth, lastCode(ctx));
  t.equal(inTime.statusCode, 200, `9:50 after sending: accepted (${inTime.body})`);

  const late = await smsLogin(ctx, user);
  await reauthChallenge(ctx, late.auth);
  const code = lastCode(ctx);
  clock.advance(10 * MINUTE + 1000);
  const expired = await reauthenticate(ctx, late.auth, code);
  assertProblem(t, expired, 401, 'MFA_CODE_INVALID', '10:01 after sending');

  const other = await loggedInUser(ctx);
  await enrolPhone(ctx, other.auth);
  const enrolCode = lastCode(ctx);
  clock.advance(10 * MINUTE + 1000);
  const stale = await confirmPhone(ctx, other.auth, enrolCode);
  const body = assertProblem(t, stale, 401, 'MFA_CODE_INVALID', 'an expired enrolment code');
  t.match(body.detail, /expired/);
  const userId = (await ctx.db.selectFrom('users').select('id').where('email', '=', other.email).executeTakeFirstOrThrow()).id;
  t.equal((await factorRows(userId))[0].confirmed_at, null, 'the phone stays pending');
  // Setting up is step-up, and the login is now over ten minutes old: the password again first.
  const again = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/reauthenticate',
    headers: other.auth,
    payload: { password: other.password },
  });
  t.equal(again.statusCode, 200, again.body);
  t.equal((await enrolPhone(ctx, other.auth)).statusCode, 200, 'a new set-up');
  const fresh = await confirmPhone(ctx, other.auth, lastCode(ctx));
  t.equal(fresh.statusCode, 200, `a new code confirms (${fresh.body})`);
});

t.test('a code is single use: a second step-up with it is refused', async (t) => {
  const user = await userWithPhone(ctx);
  const session = await smsLogin(ctx, user);
  await reauthChallenge(ctx, session.auth);
  const code = lastCode(ctx);
  t.equal((await reauthenticate(ctx, session.auth, code)).statusCode, 200);
  assertProblem(t, await reauthenticate(ctx, session.auth, code), 401, 'MFA_CODE_INVALID', 'the same code again');
});

t.test('ten step-ups sent at once with the right code: exactly one succeeds', async (t) => {
  const user = await userWithPhone(ctx);
  const session = await smsLogin(ctx, user);
  await reauthChallenge(ctx, session.auth);
  const code = lastCode(ctx);
  const results = await Promise.all(Array.from({ length: 10 }, () => reauthenticate(ctx, session.auth, code)));
  const statuses = results.map((r) => r.statusCode);
  t.equal(statuses.filter((s) => s === 200).length, 1, `one 200 (${statuses.join(',')})`);
  t.equal(statuses.filter((s) => s === 401).length, 9, 'nine refused');
  // A double submit of the right code is no guessing: it does not use up the session's tries.
  t.equal((await reauthChallenge(ctx, session.auth)).statusCode, 200, 'a new code can be sent');
  t.equal((await reauthenticate(ctx, session.auth, lastCode(ctx))).statusCode, 200, 'and it works');
});

t.test("a code sent for one login does not complete another login's mfa_token", async (t) => {
  const user = await userWithPhone(ctx);
  const a = await mfaToken(ctx, user);
  const b = await mfaToken(ctx, user);
  await sendLoginCode(ctx, a);
  const codeA = lastCode(ctx);
  const crossed = assertProblem(t, await completeLogin(ctx, b, codeA), 401, 'MFA_CODE_INVALID', "A's code on B, which asked for none");
  t.equal(crossed.attempts_remaining, 4);
  await sendLoginCode(ctx, b);
  const codeB = lastCode(ctx);
  t.not(codeA, codeB);
  assertProblem(t, await completeLogin(ctx, b, codeA), 401, 'MFA_CODE_INVALID', "A's code on B, which has its own");
  assertProblem(t, await completeLogin(ctx, a, codeB), 401, 'MFA_CODE_INVALID', "B's code on A");
  t.equal((await completeLogin(ctx, a, codeA)).statusCode, 200, "A's own code, after B asked for one");
  t.equal((await completeLogin(ctx, b, codeB)).statusCode, 200, "B's own code");
});

t.test('a login code does not do a step-up, and a step-up code does not complete a login', async (t) => {
  const user = await userWithPhone(ctx);
  const session = await smsLogin(ctx, user);
  const token = await mfaToken(ctx, user);
  await sendLoginCode(ctx, token);
  const loginCode = lastCode(ctx);
  assertProblem(t, await reauthenticate(ctx, session.auth, loginCode), 401, 'MFA_CODE_INVALID', 'login code at step-up');
  await reauthChallenge(ctx, session.auth);
  const stepUpCode = lastCode(ctx);
  assertProblem(t, await completeLogin(ctx, token, stepUpCode), 401, 'MFA_CODE_INVALID', 'step-up code at login');
});

t.test('a login: asking again kills the old code and does not reset the five tries', async (t) => {
  const user = await userWithPhone(ctx);
  const token = await mfaToken(ctx, user);
  await sendLoginCode(ctx, token);
  const first = lastCode(ctx);
  for (const left of [4, 3]) {
    t.equal(assertProblem(t, await completeLogin(ctx, token, wrongCode(first)), 401, 'MFA_CODE_INVALID').attempts_remaining, left);
  }
  t.equal((await sendLoginCode(ctx, token)).statusCode, 200, 'a new code');
  const second = lastCode(ctx);
  const old = assertProblem(t, await completeLogin(ctx, token, first), 401, 'MFA_CODE_INVALID', 'the old code is dead');
  t.equal(old.attempts_remaining, 2, 'and counted: the count went on from 3');
  t.equal(assertProblem(t, await completeLogin(ctx, token, wrongCode(second)), 401, 'MFA_CODE_INVALID').attempts_remaining, 1);
  t.equal(assertProblem(t, await completeLogin(ctx, token, wrongCode(second)), 401, 'MFA_CODE_INVALID').attempts_remaining, 0);
  assertProblem(t, await completeLogin(ctx, token, second), 401, 'MFA_TOKEN_INVALID', 'the right code after the fifth wrong one');
});

t.test('a step-up: five wrong codes end SMS for that session, and asking again does not bring it back', async (t) => {
  const user = await userWithPhone(ctx);
  const session = await smsLogin(ctx, user);
  await reauthChallenge(ctx, session.auth);
  const first = lastCode(ctx);
  for (let i = 0; i < 4; i++) assertProblem(t, await reauthenticate(ctx, session.auth, wrongCode(first)), 401, 'MFA_CODE_INVALID');
  t.equal((await reauthChallenge(ctx, session.auth)).statusCode, 200, 'a new code after four wrong ones');
  const second = lastCode(ctx);
  assertProblem(t, await reauthenticate(ctx, session.auth, wrongCode(second)), 401, 'MFA_CODE_INVALID', 'the fifth wrong one');
  assertProblem(t, await reauthenticate(ctx, session.auth, second), 401, 'MFA_CODE_INVALID', 'then even the right code');
  const sent = ctx.sms.sent.length;
  const again = assertProblem(t, await reauthChallenge(ctx, session.auth), 429, 'MFA_THROTTLED', 'and no new text');
  t.ok(typeof again.retry_after === 'number' && again.retry_after > 0 && again.retry_after <= 3600, `retry_after ${again.retry_after}`);
  t.equal(ctx.sms.sent.length, sent, 'nothing sent');
});

t.test('an enrolment: four wrong codes, a new code for the same number, one more wrong: the enrolment is over', async (t) => {
  const user = await loggedInUser(ctx);
  const userId = (await ctx.db.selectFrom('users').select('id').where('email', '=', user.email).executeTakeFirstOrThrow()).id;
  const started = await enrolPhone(ctx, user.auth);
  const first = lastCode(ctx);
  for (const left of [4, 3, 2, 1]) {
    t.equal(assertProblem(t, await confirmPhone(ctx, user.auth, wrongCode(first)), 401, 'MFA_CODE_INVALID').attempts_remaining, left);
  }
  const resend = await enrolPhone(ctx, user.auth, PHONE);
  t.equal(resend.statusCode, 200, resend.body);
  t.equal(resend.json().factor_id, started.json().factor_id, 'the same enrolment');
  const second = lastCode(ctx);
  assertProblem(t, await confirmPhone(ctx, user.auth, first), 401, 'MFA_CODE_INVALID', 'the first code died with the resend');
  t.same(await factorRows(userId), [], 'that was the fifth wrong code: the pending phone is gone');
  assertProblem(t, await confirmPhone(ctx, user.auth, second), 409, 'FACTOR_NOT_PENDING', 'the new code confirms nothing');
});
