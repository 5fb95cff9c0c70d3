import t from 'tap';
import { buildTestApp, loggedInUser } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { confirmPhone, enrolPhone, lastCode, PHONE, wrongCode } from '../../helpers/sms-flow.js';

const ctx = await buildTestApp(t, { env: { SMS_PER_USER_PER_HOUR: '1000', SMS_PER_NUMBER_PER_HOUR: '1000' } });
const userIdOf = async (email: string) =>
  (await ctx.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirstOrThrow()).id;
const factorRows = (userId: string) => ctx.db.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).execute();
const smsEvents = (userId: string) =>
  ctx.db.selectFrom('audit_events').select('action').where('actor_id', '=', userId).where('action', 'like', 'mfa.%').execute();
const settle = () => new Promise((r) => setTimeout(r, 50));

t.test('POST /v1/me/mfa/sms: bad bodies and bad numbers are 400 problems; nothing sent, written or audited', async (t) => {
  const user = await loggedInUser(ctx);
  const userId = await userIdOf(user.email);
  const sent = ctx.sms.sent.length;
  const cases: Array<[string, unknown, string]> = [
    ['no phone', {}, 'VALIDATION_FAILED'],
    ['phone as a number', { phone: 14155552671 }, 'VALIDATION_FAILED'],
    ['empty phone', { phone: '' }, 'VALIDATION_FAILED'],
    ['blank phone', { phone: '   ' }, 'VALIDATION_FAILED'],
    ['too long', { phone: `+1${'4'.repeat(40)}` }, 'VALIDATION_FAILED'],
    ['extra field', { phone: PHONE, name: 'mine' }, 'VALIDATION_FAILED'],
    ['array body', [PHONE], 'VALIDATION_FAILED'],
    ['not international', { phone: '415 555 2671' }, 'PHONE_INVALID'],
    ['too short', { phone: '+1 415 555' }, 'PHONE_INVALID'],
    ['letters', { phone: '+not-a-phone' }, 'PHONE_INVALID'],
    ['unknown country code', { phone: '+999 123 456 789' }, 'PHONE_INVALID'],
    ['an extension', { phone: '+1 415 555 2671 ext. 12' }, 'PHONE_INVALID'],
    ['a landline', { phone: '+44 20 7946 0958' }, 'PHONE_NOT_MOBILE'],
    ['premium rate', { phone: '+1 900 555 0123' }, 'PHONE_NOT_MOBILE'],
    ['toll-free', { phone: '+1 800 555 0123' }, 'PHONE_NOT_MOBILE'],
  ];
  for (const [name, payload, code] of cases) {
    const res = await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/sms', headers: user.auth, payload: payload as object });
    const body = assertProblem(t, res, 400, code, name);
    if (code !== 'VALIDATION_FAILED') t.ok(body.detail.length > 10, `${name}: says what to do`);
  }
  const notJson = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/mfa/sms',
    headers: { ...user.auth, 'content-type': 'application/json' },
    payload: '{"phone": ',
  });
  assertProblem(t, notJson, 400, 'MALFORMED_BODY', 'broken JSON');
  await settle();
  t.equal(ctx.sms.sent.length, sent, 'no text sent');
  t.same(await factorRows(userId), [], 'no row written');
  t.same(await smsEvents(userId), [], 'nothing audited');
});

t.test('every SMS endpoint wants a session', async (t) => {
  assertProblem(
    t,
    await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/sms', payload: { phone: PHONE } }),
    401,
    'AUTHENTICATION_REQUIRED',
  );
  assertProblem(
    t,
    await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/sms/confirm', payload: { code: '123456' } }),
    401,
    'AUTHENTICATION_REQUIRED',
  );
  assertProblem(t, await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/sms' }), 401, 'AUTHENTICATION_REQUIRED');
  const bogus = { authorization: 'Bearer not-a-jwt' };
  assertProblem(
    t,
    await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/sms', headers: bogus, payload: { phone: PHONE } }),
    401,
    'INVALID_TOKEN',
  );
});

t.test('POST /v1/me/mfa/sms/confirm: codes of the wrong shape are 400, cost no try, and leave the enrolment pending', async (t) => {
  const user = await loggedInUser(ctx);
  const userId = await userIdOf(user.email);
  assertProblem(t, await confirmPhone(ctx, user.auth, '123456'), 409, 'FACTOR_NOT_PENDING', 'nothing to confirm yet');
  await enrolPhone(ctx, user.auth);
  const code = lastCode(ctx);
  const before = await factorRows(userId);
  const cases: Array<[string, unknown]> = [
    ['no code', {}],
    ['five digits', { code: '12345' }],
    ['seven digits', { code: '1234567' }],
    ['letters', { code: 'abcdef' }],
    ['a number, not a string', { code: Number(code) }],
    ['a backup-code shape', { code: 'abcde-fghjk' }],
    ['extra field', { code, factor_id: before[0].id }],
    ['revoke flag not a boolean', { code, revoke_other_sessions: 'yes' }],
  ];
  for (const [name, payload] of cases) {
    const res = await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/sms/confirm', headers: user.auth, payload: payload as object });
    assertProblem(t, res, 400, 'VALIDATION_FAILED', name);
  }
  t.same(await factorRows(userId), before, 'still pending, unchanged');
  const wrong = assertProblem(t, await confirmPhone(ctx, user.auth, wrongCode(code)), 401, 'MFA_CODE_INVALID');
  t.equal(wrong.attempts_remaining, 4, 'the malformed bodies cost no try');
  const spaced = await confirmPhone(ctx, user.auth, `${code.slice(0, 3)} ${code.slice(3)}`);
  t.equal(spaced.statusCode, 200, `"123 456" as typed from the text is fine (${spaced.body})`);
});

t.test('login and step-up: bad SMS requests are 4xx problems', async (t) => {
  assertProblem(t, await ctx.app.inject({ method: 'POST', url: '/v1/login/mfa/sms', payload: {} }), 400, 'VALIDATION_FAILED', 'no token');
  assertProblem(
    t,
    await ctx.app.inject({ method: 'POST', url: '/v1/login/mfa/sms', payload: { mfa_token: 'x', extra: 1 } }),
    400,
    'VALIDATION_FAILED',
    'extra field',
  );
  assertProblem(
    t,
    await ctx.app.inject({ method: 'POST', url: '/v1/login/mfa/sms', payload: { mfa_token: 'nope' } }),
    401,
    'MFA_TOKEN_INVALID',
  );
  const user = await loggedInUser(ctx);
  const noPhone = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/reauthenticate/challenge',
    headers: user.auth,
    payload: { method: 'sms' },
  });
  assertProblem(t, noPhone, 400, 'MFA_METHOD_UNAVAILABLE', 'step-up by SMS without a phone');
  assertProblem(t, await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/sms', headers: user.auth }), 404, 'FACTOR_NOT_FOUND');
});

t.test('without a sender (no SMS_URL, no SMS_TO_LOG): 503 SMS_NOT_CONFIGURED, nothing written', async (t) => {
  const off = await buildTestApp(t, { sms: null });
  const user = await loggedInUser(off);
  const res = await off.app.inject({ method: 'POST', url: '/v1/me/mfa/sms', headers: user.auth, payload: { phone: PHONE } });
  assertProblem(t, res, 503, 'SMS_NOT_CONFIGURED');
  const rows = await off.db.selectFrom('mfa_factors').selectAll().execute();
  t.same(rows, []);
});
