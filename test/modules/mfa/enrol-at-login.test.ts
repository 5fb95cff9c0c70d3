/**
 * Setting up a factor during a login (org policy "mfa_enrollment_required"): an enroll-purpose
 * mfa_token can set up one of its methods, and the confirmation completes the login at aal 2
 * (POST /v1/login/mfa/enroll/*). Here the authenticator app and the rules every method shares;
 * enrol-at-login-factors.test.ts has security keys, passkeys and text messages.
 */
import t from 'tap';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import type { LoginMethod } from '../../../src/modules/mfa/index.js';
import { buildTestApp, createVerifiedUser, login, waitForLinkToken, type TestApp } from '../../helpers/app.js';
import { eventually } from '../../helpers/eventually.js';
import { assertProblem } from '../../helpers/problem.js';
import { decode, me } from '../tokens/forge.js';
import { manualClock } from './flow-support.js';
import { statusCounts } from './totp-support.js';

type SetCookie = { name: string; value: string; path?: string; secure?: boolean; httpOnly?: boolean; sameSite?: string };

const clock = manualClock();
const ctx = await buildTestApp(t, { kv: 'redis', clock });

const ALL: LoginMethod[] = ['totp', 'webauthn', 'sms'];

async function userRow(email: string) {
  return ctx.db.selectFrom('users').select(['id', 'password_hash']).where('email', '=', email).executeTakeFirstOrThrow();
}

/** A parked login, as POST /v1/login parks one: for enrolment unless `purpose` says 'mfa'. */
async function park(
  user: { email: string },
  opts: { methods?: LoginMethod[]; mode?: 'token' | 'cookie'; purpose?: 'mfa' | 'enroll' } = {},
): Promise<string> {
  const row = await userRow(user.email);
  return ctx.services.mfa.openLogin(
    {
      userId: row.id,
      orgId: null,
      mode: opts.mode ?? 'token',
      amr: ['pwd'],
      purpose: opts.purpose ?? 'enroll',
      methods: opts.methods ?? ALL,
    },
    row.password_hash,
  );
}

/** A verified user with no factor and no session, and an enroll token for them. */
async function enrolling(opts: Parameters<typeof park>[1] = {}) {
  const user = await createVerifiedUser(ctx);
  const { id } = await userRow(user.email);
  return { ...user, id, token: await park(user, opts) };
}

const enrol = (c: TestApp, path: string, payload: Record<string, unknown>) =>
  c.app.inject({ method: 'POST', url: `/v1/login/mfa/enroll${path}`, payload });

async function startTotp(token: string): Promise<{ secret: string; factor_id: string }> {
  const res = await enrol(ctx, '/totp', { mfa_token: token });
  if (res.statusCode !== 200) throw new Error(`TOTP set-up failed: ${res.body}`);
  return res.json();
}
const confirmTotp = (token: string, code: string) => enrol(ctx, '/totp/confirm', { mfa_token: token, code });
const codeNow = (secret: string) => totpCode(secret, clock.nowSeconds());
/** A six-digit code that is not the current step's (nor a neighbour's, in practice). */
const wrong = (code: string) => String((Number(code) + 500_000) % 1_000_000).padStart(6, '0');

const factorsOf = (userId: string) =>
  ctx.db.selectFrom('mfa_factors').select(['id', 'kind', 'confirmed_at', 'enrol_session_id']).where('user_id', '=', userId).execute();
const sessionsOf = (userId: string) =>
  ctx.db.selectFrom('sessions').select(['id', 'aal', 'amr', 'org_id']).where('user_id', '=', userId).execute();

t.test('TOTP: set up with the enroll token, confirmed: the login completes at aal 2 with the backup codes', async (t) => {
  const user = await enrolling();
  const started = await enrol(ctx, '/totp', { mfa_token: user.token });
  t.equal(started.statusCode, 200, started.body);
  t.equal(started.headers['cache-control'], 'no-store');
  const setup = started.json();
  t.match(setup, { secret: /^[A-Z2-7]+$/, otpauth_url: /^otpauth:\/\/totp\//, qr_code: /^data:image\/svg\+xml;base64,/ });

  // The set-up is bound to this login attempt, not to a session (there is none).
  const [pending] = await factorsOf(user.id);
  t.equal(pending!.confirmed_at, null, 'pending until confirmed');
  t.match(pending!.enrol_session_id, /^[0-9a-f-]{36}$/, 'bound to the attempt id');

  const done = await confirmTotp(user.token, codeNow(setup.secret));
  t.equal(done.statusCode, 200, done.body);
  t.equal(done.headers['cache-control'], 'no-store');
  const body = done.json();
  t.same(Object.keys(body).sort(), [
    'access_token',
    'backup_codes',
    'expires_in',
    'refresh_expires_in',
    'refresh_token',
    'session_id',
    'status',
    'token_type',
  ]);
  t.match(body, { status: 'authenticated', token_type: 'Bearer' });
  t.equal(body.backup_codes.length, 10, 'the backup codes of the first factor, shown once');
  t.match(decode(body.access_token).claims, { aal: 2, amr: ['pwd', 'otp'], sub: user.id, sid: body.session_id });
  t.equal((await me(ctx, body.access_token)).res.statusCode, 200, 'the access token authenticates');

  const [factor] = await factorsOf(user.id);
  t.equal(factor!.kind, 'totp');
  t.not(factor!.confirmed_at, null, 'the factor is on');
  const sessions = await sessionsOf(user.id);
  t.same(
    sessions.map((s) => ({ id: s.id, aal: s.aal, amr: s.amr, org_id: s.org_id })),
    [{ id: body.session_id, aal: 2, amr: ['pwd', 'otp'], org_id: null }],
    'one session: the login; lifting "the confirming session" found no session and wrote none',
  );
  const ghost = await ctx.db.selectFrom('sessions').select('id').where('id', '=', factor!.enrol_session_id!).execute();
  t.same(ghost, [], 'no session has the attempt id');

  const events = await eventually(
    async () => {
      const rows = await ctx.db
        .selectFrom('audit_events')
        .select(['action', 'target_id', 'data'])
        .where('actor_id', '=', user.id)
        .orderBy('seq')
        .execute();
      return rows.some((r) => r.action === 'session.login') && rows;
    },
    { timeoutMs: 2000, message: 'no session.login event' },
  );
  t.match(
    events.find((e) => e.action === 'mfa.factor_enabled'),
    { target_id: factor!.id, data: { kind: 'totp' } },
  );
  t.match(
    events.find((e) => e.action === 'session.login'),
    { target_id: body.session_id, data: { amr: ['pwd', 'otp'], aal: 2, method: 'totp', factor_id: factor!.id, enrolled: true } },
  );

  assertProblem(t, await confirmTotp(user.token, codeNow(setup.secret)), 401, 'MFA_TOKEN_INVALID', 'the token is spent');
  assertProblem(t, await enrol(ctx, '/totp', { mfa_token: user.token }), 401, 'MFA_TOKEN_INVALID', 'for everything');

  // The next login takes the second step, with the app or a backup code.
  const next = await login(ctx, user.email, user.password);
  t.equal(next.body.status, 'mfa_required');
  t.same(next.body.methods, ['totp', 'backup_code']);
  const withCode = await ctx.app.inject({
    method: 'POST',
    url: '/v1/login/mfa',
    payload: { mfa_token: next.body.mfa_token, method: 'backup_code', code: body.backup_codes[0] },
  });
  t.equal(withCode.statusCode, 200, `a backup code completes a later login (${withCode.body.slice(0, 80)})`);
  t.match(decode(withCode.json().access_token).claims, { aal: 2 });
});

t.test('wrong codes spend the token: five in all, across set-ups, then MFA_TOKEN_INVALID', async (t) => {
  const user = await enrolling();
  const first = await startTotp(user.token);
  for (const left of [4, 3, 2]) {
    const res = assertProblem(t, await confirmTotp(user.token, wrong(codeNow(first.secret))), 401, 'MFA_CODE_INVALID');
    t.equal(res.attempts_remaining, left, `${left} left`);
  }
  // A new set-up has tries of its own; the token's are what is left of five.
  const second = await startTotp(user.token);
  t.equal(assertProblem(t, await confirmTotp(user.token, wrong(codeNow(second.secret))), 401, 'MFA_CODE_INVALID').attempts_remaining, 1);
  const last = assertProblem(t, await confirmTotp(user.token, wrong(codeNow(second.secret))), 401, 'MFA_CODE_INVALID');
  t.equal(last.attempts_remaining, 0);
  t.match(last.detail, /last try; sign in again/);
  assertProblem(t, await confirmTotp(user.token, codeNow(second.secret)), 401, 'MFA_TOKEN_INVALID', 'the right code comes too late');
  assertProblem(t, await enrol(ctx, '/totp', { mfa_token: user.token }), 401, 'MFA_TOKEN_INVALID', 'the token is dead');
  t.same(
    (await factorsOf(user.id)).filter((f) => f.confirmed_at),
    [],
    'no factor turned on',
  );
  t.same(await sessionsOf(user.id), [], 'no session');
});

t.test('wrong codes sent at once: never more than five are checked', async (t) => {
  const user = await enrolling();
  const { secret } = await startTotp(user.token);
  const guess = (i: number) => String((Number(wrong(codeNow(secret))) + i) % 1_000_000).padStart(6, '0');
  // Confirmations of one token run one at a time: those that find another under way are refused unchecked.
  const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => confirmTotp(user.token, guess(i))));
  t.equal(statusCounts(burst)[401], 10, 'all refused');
  let checked = burst.filter((r) => r.json().code === 'MFA_CODE_INVALID').length;
  t.ok(checked >= 1 && checked <= 5, `${checked} checked`);
  for (let i = 10; i < 20; i++) {
    const res = await confirmTotp(user.token, guess(i));
    if (res.json().code !== 'MFA_CODE_INVALID') break;
    checked++;
  }
  t.equal(checked, 5, 'five checked in all');
  assertProblem(t, await confirmTotp(user.token, codeNow(secret)), 401, 'MFA_TOKEN_INVALID');
});

t.test('only a method the token allows can be set up (MFA_METHOD_UNAVAILABLE, with the methods)', async (t) => {
  const user = await enrolling({ methods: ['webauthn'] });
  for (const [path, payload] of [
    ['/totp', {}],
    ['/totp/confirm', { code: '123456' }],
    ['/sms', { phone: '+1 415 555 2671' }],
    ['/sms/confirm', { code: '123456' }],
  ] as const) {
    const problem = assertProblem(t, await enrol(ctx, path, { mfa_token: user.token, ...payload }), 400, 'MFA_METHOD_UNAVAILABLE', path);
    t.same(problem.methods, ['webauthn'], `${path}: the methods it can set up`);
  }
  t.equal(ctx.sms.sent.length, 0, 'no text sent');
  t.same(await factorsOf(user.id), [], 'nothing set up');
  t.equal((await enrol(ctx, '/webauthn/options', { mfa_token: user.token })).statusCode, 200, 'the allowed one can');
});

t.test('an mfa-purpose token can set nothing up; an enroll token cannot take the second step', async (t) => {
  // An mfa token listing the methods (as if the account had them): still no enrolment.
  const user = await createVerifiedUser(ctx);
  const { id } = await userRow(user.email);
  const mfaToken = await park(user, { purpose: 'mfa' });
  for (const [path, payload] of [
    ['/totp', {}],
    ['/totp/confirm', { code: '123456' }],
    ['/webauthn/options', {}],
    ['/sms', { phone: '+1 415 555 2671' }],
    ['/sms/confirm', { code: '123456' }],
  ] as const) {
    assertProblem(t, await enrol(ctx, path, { mfa_token: mfaToken, ...payload }), 401, 'MFA_TOKEN_INVALID', path);
  }
  t.same(await factorsOf(id), [], 'nothing set up');

  // The enroll token, with a set-up of its own, at the second step: refused (it can only enrol).
  const enrollToken = await park(user);
  const { secret } = await startTotp(enrollToken);
  for (const [url, payload] of [
    ['/v1/login/mfa', { method: 'totp', code: codeNow(secret) }],
    ['/v1/login/mfa/sms', {}],
    ['/v1/login/mfa/webauthn/options', {}],
  ] as const) {
    const res = await ctx.app.inject({ method: 'POST', url, payload: { mfa_token: enrollToken, ...payload } });
    assertProblem(t, res, 400, 'MFA_METHOD_UNAVAILABLE', url);
  }
  t.same(await sessionsOf(id), [], 'no session');
  t.equal((await confirmTotp(enrollToken, codeNow(secret))).statusCode, 200, 'the enrolment itself still completes');
});

t.test('the set-up belongs to the login attempt that started it', async (t) => {
  const user = await enrolling();
  const other = await park(user);
  const { secret } = await startTotp(user.token);
  assertProblem(t, await confirmTotp(other, codeNow(secret)), 409, 'FACTOR_NOT_PENDING', "another attempt's token");
  t.equal((await confirmTotp(user.token, codeNow(secret))).statusCode, 200, 'its own token confirms it');
});

t.test('the token completes once: of concurrent confirmations with the right code, one wins', async (t) => {
  const user = await enrolling();
  const { secret } = await startTotp(user.token);
  const results = await Promise.all(Array.from({ length: 6 }, () => confirmTotp(user.token, codeNow(secret))));
  t.equal(statusCounts(results)[200], 1, `one 200 (${JSON.stringify(statusCounts(results))})`);
  t.equal((await sessionsOf(user.id)).length, 1, 'one session');
  t.equal((await factorsOf(user.id)).filter((f) => f.confirmed_at).length, 1, 'one factor');
  const codes = await ctx.db.selectFrom('mfa_backup_codes').select('user_id').where('user_id', '=', user.id).execute();
  t.equal(codes.length, 10, 'one set of backup codes');
});

t.test('a password change since the first step ends the enrolment', async (t) => {
  const user = await enrolling();
  const { secret } = await startTotp(user.token);
  await ctx.app.inject({ method: 'POST', url: '/v1/password/forgot', payload: { email: user.email } });
  const reset = await ctx.app.inject({
    method: 'POST',
    url: '/v1/password/reset',
    payload: { token: await waitForLinkToken(ctx, user.email, 'reset-password'), password: 'a-wholly-new-password-81' },
  });
  t.equal(reset.statusCode, 200, reset.body);
  await new Promise((r) => setTimeout(r, 50)); // the reset's after-commit work (the new mark)
  assertProblem(t, await confirmTotp(user.token, codeNow(secret)), 401, 'MFA_TOKEN_INVALID', 'the right code is refused');
  t.same(
    (await factorsOf(user.id)).filter((f) => f.confirmed_at),
    [],
    'no factor turned on',
  );
  t.same(await sessionsOf(user.id), [], 'no session');
  assertProblem(t, await enrol(ctx, '/totp', { mfa_token: user.token }), 401, 'MFA_TOKEN_INVALID', 'nor can it start a set-up');
});

t.test('cookie mode: the completed enrolment sets the session cookies and shows the backup codes', async (t) => {
  const user = await enrolling({ mode: 'cookie' });
  const { secret } = await startTotp(user.token);
  const done = await confirmTotp(user.token, codeNow(secret));
  t.equal(done.statusCode, 200, done.body);
  const body = done.json();
  t.same(Object.keys(body).sort(), [
    'backup_codes',
    'csrf_token',
    'expires_in',
    'refresh_expires_in',
    'session_id',
    'status',
    'token_type',
  ]);
  t.match(body, { status: 'authenticated', token_type: 'cookie' });
  t.equal(body.backup_codes.length, 10);
  const cookies = done.cookies as SetCookie[];
  const role = (suffix: string) => cookies.find((c) => c.name.endsWith(suffix))!;
  t.match(role('tessera_at'), { name: '__Host-tessera_at', httpOnly: true, secure: true });
  t.match(role('tessera_rt'), { name: '__Secure-tessera_rt', httpOnly: true, secure: true });
  t.match(role('tessera_csrf'), { name: '__Host-tessera_csrf', value: body.csrf_token });
  t.match(decode(role('tessera_at').value).claims, { aal: 2, amr: ['pwd', 'otp'], sid: body.session_id });
  const meRes = await ctx.app.inject({ method: 'GET', url: '/v1/me', cookies: { [role('tessera_at').name]: role('tessera_at').value } });
  t.equal(meRes.statusCode, 200, 'the access cookie authenticates');
});

t.test('input that is no code costs no try', async (t) => {
  const user = await enrolling();
  const { secret } = await startTotp(user.token);
  for (const code of ['12345', 'abcdef', '1234567', '']) {
    assertProblem(t, await confirmTotp(user.token, code), 400, 'VALIDATION_FAILED', JSON.stringify(code));
  }
  assertProblem(t, await enrol(ctx, '/totp', { mfa_token: user.token, extra: 1 }), 400, 'VALIDATION_FAILED', 'strict bodies');
  t.equal(assertProblem(t, await confirmTotp(user.token, wrong(codeNow(secret))), 401, 'MFA_CODE_INVALID').attempts_remaining, 4);
});
