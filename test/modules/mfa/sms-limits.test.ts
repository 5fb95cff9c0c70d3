import t from 'tap';
import { buildTestApp, loggedInUser } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { confirmPhone, enrolPhone, lastCode, mfaToken, sendLoginCode, userWithPhone } from '../../helpers/sms-flow.js';

const ctx = await buildTestApp(t, { kv: 'redis', env: { SMS_PER_USER_PER_HOUR: '3', SMS_PER_NUMBER_PER_HOUR: '4' } });
const textsTo = (to: string) => ctx.sms.sent.filter((m) => m.to === to).length;

t.test('three texts an hour per account (enrolment and login together), then 429 with retry_after', async (t) => {
  const phone = '+1 202 555 0101';
  const e164 = '+12025550101';
  const user = await userWithPhone(ctx, { phone, e164 });
  const token = await mfaToken(ctx, user);
  t.equal((await sendLoginCode(ctx, token)).statusCode, 200, 'second text');
  t.equal((await sendLoginCode(ctx, token)).statusCode, 200, 'third text');
  const code = lastCode(ctx, e164);
  const refused = await sendLoginCode(ctx, token);
  const body = assertProblem(t, refused, 429, 'SMS_RATE_LIMITED', 'the fourth');
  t.ok(typeof body.retry_after === 'number' && body.retry_after > 3500 && body.retry_after <= 3600, `retry_after ${body.retry_after}`);
  t.equal(refused.headers['retry-after'], String(body.retry_after), 'as a Retry-After header too');
  t.equal(textsTo(e164), 3, 'three texts went out');
  const done = await ctx.app.inject({ method: 'POST', url: '/v1/login/mfa', payload: { mfa_token: token, method: 'sms', code } });
  t.equal(done.statusCode, 200, 'the last code sent still works');
});

t.test('a refused send is not counted, and a refused enrolment writes nothing', async (t) => {
  const user = await loggedInUser(ctx);
  const userId = (await ctx.db.selectFrom('users').select('id').where('email', '=', user.email).executeTakeFirstOrThrow()).id;
  for (const phone of ['+1 202 555 0111', '+1 202 555 0112', '+1 202 555 0113'])
    t.equal((await enrolPhone(ctx, user.auth, phone)).statusCode, 200);
  const pending = await ctx.db.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).execute();
  for (let i = 0; i < 3; i++) assertProblem(t, await enrolPhone(ctx, user.auth, '+1 202 555 0114'), 429, 'SMS_RATE_LIMITED');
  t.equal(textsTo('+12025550114'), 0);
  t.same(
    await ctx.db.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).execute(),
    pending,
    'the pending phone is as it was',
  );
  const ok = await confirmPhone(ctx, user.auth, lastCode(ctx, '+12025550113'));
  t.equal(ok.statusCode, 200, 'and its code still confirms it');
});

t.test('four texts an hour per number, across accounts', async (t) => {
  const phone = '+1 202 555 0121';
  const e164 = '+12025550121';
  const [a, b, c] = await Promise.all([loggedInUser(ctx), loggedInUser(ctx), loggedInUser(ctx)]);
  for (let i = 0; i < 3; i++) t.equal((await enrolPhone(ctx, a.auth, phone)).statusCode, 200, `A's text ${i + 1}`);
  t.equal((await enrolPhone(ctx, b.auth, phone)).statusCode, 200, "B's text, the number's fourth");
  const refused = assertProblem(t, await enrolPhone(ctx, b.auth, phone), 429, 'SMS_RATE_LIMITED', "B's second");
  t.match(refused.detail, /this number/);
  t.ok(Number(refused.retry_after) > 0, 'with retry_after');
  assertProblem(t, await enrolPhone(ctx, c.auth, phone), 429, 'SMS_RATE_LIMITED', 'a third account, same number');
  t.equal(textsTo(e164), 4);
  t.equal((await enrolPhone(ctx, c.auth, '+1 202 555 0122')).statusCode, 200, 'another number is fine');
});
