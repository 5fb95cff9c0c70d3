/**
 * Setting up a factor during a login (org policy "mfa_enrollment_required"), continued: a
 * security key, a synced passkey and a phone set up with the enroll-purpose mfa_token, and two
 * set-ups of one token confirmed at once (one factor, one session).
 */
import t from 'tap';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import type { LoginMethod } from '../../../src/modules/mfa/index.js';
import { createVerifiedUser, login, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { lastCode, PHONE, PHONE_E164, PHONE_MASKED, wrongCode } from '../../helpers/sms-flow.js';
import { manualClock } from './flow-support.js';
import { statusCounts } from './totp-support.js';
import { claimsOf, passkeyOptions, platformAuthenticator, securityKey, syncedPasskeyProvider, webauthnApp } from './webauthn-support.js';

const clock = manualClock();
const ctx = await webauthnApp(t, { kv: 'redis', clock });

const ALL: LoginMethod[] = ['totp', 'webauthn', 'sms'];

async function userRow(email: string) {
  return ctx.db.selectFrom('users').select(['id', 'password_hash']).where('email', '=', email).executeTakeFirstOrThrow();
}

/** A verified user with no factor and no session, and an enroll token for them (as POST /v1/login parks one). */
async function enrolling(methods: LoginMethod[] = ALL) {
  const user = await createVerifiedUser(ctx);
  const row = await userRow(user.email);
  const token = await ctx.services.mfa.openLogin(
    { userId: row.id, orgId: null, mode: 'token', amr: ['pwd'], purpose: 'enroll', methods },
    row.password_hash,
  );
  return { ...user, id: row.id, token };
}

const enrol = (c: TestApp, path: string, payload: Record<string, unknown>) =>
  c.app.inject({ method: 'POST', url: `/v1/login/mfa/enroll${path}`, payload });

const factorsOf = (userId: string) =>
  ctx.db
    .selectFrom('mfa_factors')
    .select(['id', 'kind', 'confirmed_at', 'passkey'])
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .execute();
const sessionsOf = (userId: string) => ctx.db.selectFrom('sessions').select(['id', 'aal', 'amr']).where('user_id', '=', userId).execute();

t.test('a security key: registration options, then the registration completes the login (hwk)', async (t) => {
  const user = await enrolling();
  const key = securityKey();
  const opt = await enrol(ctx, '/webauthn/options', { mfa_token: user.token });
  t.equal(opt.statusCode, 200, opt.body);
  t.equal(opt.headers['cache-control'], 'no-store');
  const options = opt.json().options;
  t.equal(options.rp.id, 'app.example.test');
  t.equal(options.authenticatorSelection.residentKey, 'discouraged', 'a security key by default');

  const done = await enrol(ctx, '/webauthn', { mfa_token: user.token, response: key.register(options), name: 'YubiKey' });
  t.equal(done.statusCode, 200, done.body);
  t.equal(done.headers['cache-control'], 'no-store');
  const body = done.json();
  t.match(body, { status: 'authenticated', token_type: 'Bearer', access_token: String });
  t.equal(body.backup_codes.length, 10, 'the backup codes of the first factor');
  t.match(claimsOf(body.access_token), { aal: 2, amr: ['pwd', 'hwk'], sub: user.id });
  const factors = await factorsOf(user.id);
  t.equal(factors.length, 1);
  t.match(factors[0], { kind: 'webauthn', passkey: false });
  t.not(factors[0]!.confirmed_at, null);
  t.same(
    (await sessionsOf(user.id)).map((s) => [s.id, s.aal, s.amr]),
    [[body.session_id, 2, ['pwd', 'hwk']]],
  );

  // The next login takes the second step with the key.
  const next = await login(ctx, user.email, user.password);
  t.same(next.body.methods, ['webauthn', 'backup_code']);
  const request = await ctx.app.inject({
    method: 'POST',
    url: '/v1/login/mfa/webauthn/options',
    payload: { mfa_token: next.body.mfa_token },
  });
  t.equal(request.statusCode, 200, request.body);
  const second = await ctx.app.inject({
    method: 'POST',
    url: '/v1/login/mfa/webauthn',
    payload: { mfa_token: next.body.mfa_token, response: key.assert(request.json().options) },
  });
  t.equal(second.statusCode, 200, second.body);
});

t.test('a synced passkey (swk), which then signs in alone', async (t) => {
  const user = await enrolling(['webauthn']);
  const provider = syncedPasskeyProvider();
  const opt = await enrol(ctx, '/webauthn/options', { mfa_token: user.token, passkey: true });
  t.equal(opt.statusCode, 200, opt.body);
  t.equal(opt.json().options.authenticatorSelection.residentKey, 'required');
  const done = await enrol(ctx, '/webauthn', { mfa_token: user.token, response: provider.register(opt.json().options) });
  t.equal(done.statusCode, 200, done.body);
  t.match(claimsOf(done.json().access_token), { aal: 2, amr: ['pwd', 'swk'] });
  t.match(await factorsOf(user.id), [{ kind: 'webauthn', passkey: true }]);

  const { challenge_id, options } = await passkeyOptions(ctx);
  const alone = await ctx.app.inject({
    method: 'POST',
    url: '/v1/login/passkey',
    payload: { challenge_id, response: provider.assert(options as never) },
  });
  t.equal(alone.statusCode, 200, alone.body);
});

t.test('a registration answering other options, or none, is refused and spends a try', async (t) => {
  const user = await enrolling();
  const key = platformAuthenticator();
  assertProblem(
    t,
    await enrol(ctx, '/webauthn', { mfa_token: user.token, response: { id: 'abc', type: 'public-key' } }),
    400,
    'VALIDATION_FAILED',
    'not a registration response at all (costs no try)',
  );
  const options = (await enrol(ctx, '/webauthn/options', { mfa_token: user.token })).json().options;
  const forged = key.register({ ...options, challenge: Buffer.from('another challenge').toString('base64url') });
  assertProblem(t, await enrol(ctx, '/webauthn', { mfa_token: user.token, response: forged }), 400, 'WEBAUTHN_REGISTRATION_INVALID');
  assertProblem(
    t,
    await enrol(ctx, '/webauthn', { mfa_token: user.token, response: key.register(options) }),
    409,
    'FACTOR_NOT_PENDING',
    'the challenge answered once',
  );
  t.same(await factorsOf(user.id), [], 'no key');
  t.same(await sessionsOf(user.id), [], 'no session');
  // Two of five tries are gone: three more failures end the token.
  for (let i = 0; i < 3; i++) {
    assertProblem(t, await enrol(ctx, '/webauthn', { mfa_token: user.token, response: key.register(options) }), 409, 'FACTOR_NOT_PENDING');
  }
  const fresh = (await enrol(ctx, '/webauthn/options', { mfa_token: user.token })).statusCode;
  t.equal(fresh, 401, 'the token is used up');
});

t.test('a phone: the code texted, then confirmed, completes the login (sms)', async (t) => {
  const user = await enrolling();
  const sent = await enrol(ctx, '/sms', { mfa_token: user.token, phone: PHONE });
  t.equal(sent.statusCode, 200, sent.body);
  t.equal(sent.headers['cache-control'], 'no-store');
  t.match(sent.json(), { status: 'sent', sent_to: PHONE_MASKED, expires_in: 600 });
  const code = lastCode(ctx, PHONE_E164);
  t.match(ctx.sms.sent.at(-1)!.body, /code to add this phone to your account/);

  const bad = assertProblem(t, await enrol(ctx, '/sms/confirm', { mfa_token: user.token, code: wrongCode(code) }), 401, 'MFA_CODE_INVALID');
  t.equal(bad.attempts_remaining, 4);
  const done = await enrol(ctx, '/sms/confirm', { mfa_token: user.token, code });
  t.equal(done.statusCode, 200, done.body);
  const body = done.json();
  t.equal(body.backup_codes.length, 10);
  t.match(claimsOf(body.access_token), { aal: 2, amr: ['pwd', 'sms'], sub: user.id });
  t.match(await factorsOf(user.id), [{ kind: 'sms' }]);
  t.not((await factorsOf(user.id))[0]!.confirmed_at, null);
  t.equal((await sessionsOf(user.id)).length, 1);
  assertProblem(t, await enrol(ctx, '/sms/confirm', { mfa_token: user.token, code }), 401, 'MFA_TOKEN_INVALID', 'once');

  const next = await login(ctx, user.email, user.password);
  t.same(next.body.methods, ['sms', 'backup_code'], 'the next login asks for the phone');
});

t.test('a number that cannot take texts is refused before anything is sent', async (t) => {
  const user = await enrolling(['sms']);
  const before = ctx.sms.sent.length;
  assertProblem(t, await enrol(ctx, '/sms', { mfa_token: user.token, phone: '12' }), 400, 'PHONE_INVALID');
  t.equal(ctx.sms.sent.length, before, 'nothing sent');
});

t.test('two set-ups of one token confirmed at once: one factor turned on, one session', async (t) => {
  for (let round = 0; round < 3; round++) {
    const user = await enrolling();
    const totp = (await enrol(ctx, '/totp', { mfa_token: user.token })).json<{ secret: string }>();
    t.equal((await enrol(ctx, '/sms', { mfa_token: user.token, phone: PHONE })).statusCode, 200);
    const smsCode = lastCode(ctx, PHONE_E164);
    const results = await Promise.all([
      enrol(ctx, '/totp/confirm', { mfa_token: user.token, code: totpCode(totp.secret, clock.nowSeconds()) }),
      enrol(ctx, '/sms/confirm', { mfa_token: user.token, code: smsCode }),
    ]);
    t.equal(statusCounts(results)[200], 1, `round ${round}: one completes (${results.map((r) => r.statusCode)})`);
    t.equal((await factorsOf(user.id)).filter((f) => f.confirmed_at).length, 1, `round ${round}: one factor on`);
    t.equal((await sessionsOf(user.id)).length, 1, `round ${round}: one session`);
  }
});
