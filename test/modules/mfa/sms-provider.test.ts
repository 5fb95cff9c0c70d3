import t from 'tap';
import { createHttpSmsSender } from '../../../src/infra/sms/index.js';
import { buildTestApp, loggedInUser } from '../../helpers/app.js';
import { eventually } from '../../helpers/eventually.js';
import { assertProblem } from '../../helpers/problem.js';
import {
  completeLogin,
  confirmPhone,
  enrolPhone,
  lastCode,
  logLinesWith,
  mfaToken,
  PHONE,
  PHONE_DIGITS,
  PHONE_E164,
  PHONE_MASKED,
  sendLoginCode,
  userWithPhone,
} from '../../helpers/sms-flow.js';
import { startFakeSmsProvider, twilioError } from '../../helpers/sms-provider.js';
import { decode } from '../tokens/forge.js';

// The app sends through the Twilio-compatible HTTP sender to a local stand-in for the provider.
const provider = await startFakeSmsProvider(t);
const FROM = '+15005550006';
const ctx = await buildTestApp(t, {
  kv: 'redis',
  env: { SMS_PER_USER_PER_HOUR: '3', SMS_PER_NUMBER_PER_HOUR: '1000' },
  sms: createHttpSmsSender({ url: provider.url, accountSid: provider.account.sid, authToken: provider.account.token, from: FROM }),
});
const sent = provider.delivered;
const userIdOf = async (email: string) =>
  (await ctx.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirstOrThrow()).id;
const factorRows = (userId: string) => ctx.db.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).orderBy('id').execute();
t.afterEach(() => provider.reset());

t.test('through the provider: enrol, confirm and an SMS login at aal2', async (t) => {
  const user = await userWithPhone(ctx, { sent });
  const last = provider.requests.at(-1)!;
  t.equal(last.form.To, PHONE_E164);
  t.equal(last.form.From, FROM);
  const token = await mfaToken(ctx, user);
  t.equal((await sendLoginCode(ctx, token)).statusCode, 200);
  const done = await completeLogin(ctx, token, lastCode(ctx, PHONE_E164, sent));
  t.equal(done.statusCode, 200, done.body);
  t.same(decode(done.json().access_token).claims.amr, ['pwd', 'sms']);
  t.equal(ctx.sms.sent.length, 0, 'nothing went to the capturing sender');
  t.same(logLinesWith(ctx, provider.account.token), [], 'the auth token is never logged');
  t.same(logLinesWith(ctx, PHONE_DIGITS), [], 'nor the number');
});

t.test('the provider refuses the number (21211): 502, and the pending enrolment is as it was', async (t) => {
  const user = await loggedInUser(ctx);
  const userId = await userIdOf(user.email);
  t.equal((await enrolPhone(ctx, user.auth, PHONE)).statusCode, 200);
  const firstCode = lastCode(ctx, PHONE_E164, sent);
  const before = await factorRows(userId);

  provider.answerNext(twilioError(400, 21211, "The 'To' number +447911123456 is not a valid phone number."));
  const res = await enrolPhone(ctx, user.auth, '+44 7911 123456');
  const body = assertProblem(t, res, 502, 'SMS_DELIVERY_FAILED');
  t.match(body.detail, /cannot receive text messages/);
  t.notOk(res.body.includes('7911123456'), "the provider's message (with the number) is not passed on");
  t.same(await factorRows(userId), before, 'the pending row is unchanged');

  const event = await eventually(() =>
    ctx.db.selectFrom('audit_events').selectAll().where('actor_id', '=', userId).where('action', '=', 'mfa.sms_failed').executeTakeFirst(),
  );
  t.same(event.data, { to: '+44 ••• ••• 3456', purpose: 'enrol', reason: 'invalid_recipient' }, 'audited, masked');
  const line = ctx.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'text message not sent' && l.provider_code === 21211);
  t.ok(line, 'logged with the reason and the provider code');
  t.same(logLinesWith(ctx, '7911123456'), [], 'no log line has the number');

  const ok = await confirmPhone(ctx, user.auth, firstCode);
  t.equal(ok.statusCode, 200, 'the code from before the failure still confirms the first number');
});

t.test('the provider is down at the first enrolment: 502 and nothing written', async (t) => {
  const user = await loggedInUser(ctx);
  const userId = await userIdOf(user.email);
  provider.answerNext({ status: 503, body: '<html>down</html>' });
  assertProblem(t, await enrolPhone(ctx, user.auth, PHONE), 502, 'SMS_DELIVERY_FAILED');
  t.same(await factorRows(userId), []);
  provider.answerNext(twilioError(401, 20003, 'Authenticate'));
  assertProblem(t, await enrolPhone(ctx, user.auth, PHONE), 502, 'SMS_DELIVERY_FAILED', 'our credentials refused');
  t.same(await factorRows(userId), []);
  const error = ctx.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'text message not sent' && l.reason === 'provider_auth');
  t.equal(error?.level, 50, 'credentials refused is logged as an error for the operator');
});

t.test('the provider fails at login: 502, failed sends are not counted, the earlier code still works', async (t) => {
  const user = await userWithPhone(ctx, { sent });
  const token = await mfaToken(ctx, user);
  t.equal((await sendLoginCode(ctx, token)).statusCode, 200, 'second text of three allowed');
  const code = lastCode(ctx, PHONE_E164, sent);
  provider.answerNext(
    twilioError(500, 20500, 'Internal Server Error'),
    twilioError(429, 20429, 'Too Many Requests'),
    twilioError(400, 21614, "'To' number is not a valid mobile number"),
  );
  for (let i = 0; i < 3; i++) assertProblem(t, await sendLoginCode(ctx, token), 502, 'SMS_DELIVERY_FAILED', `failure ${i + 1}`);
  t.equal(
    (await ctx.app.inject({ method: 'POST', url: '/v1/login/mfa', payload: { mfa_token: token, method: 'sms', code } })).statusCode,
    200,
    'the code sent before the failures completes the login',
  );
  const next = await mfaToken(ctx, user);
  t.equal((await sendLoginCode(ctx, next)).statusCode, 200, 'the third text is still allowed: the three failures did not count');
  assertProblem(t, await sendLoginCode(ctx, next), 429, 'SMS_RATE_LIMITED', 'the fourth is not');
});

t.test('sent_to is masked in every answer', async (t) => {
  const user = await loggedInUser(ctx);
  const res = await enrolPhone(ctx, user.auth, PHONE);
  t.equal(res.json().sent_to, PHONE_MASKED);
  t.notOk(res.body.includes(PHONE_DIGITS));
});
