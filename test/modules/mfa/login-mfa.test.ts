import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import type { InjectOptions } from 'fastify';
import { buildTestApp, createVerifiedUser, login, loggedInUser, waitForLinkToken } from '../../helpers/app.js';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import { assertProblem } from '../../helpers/problem.js';
import { decode, refresh } from '../tokens/forge.js';
import {
  aal2Login,
  bearer,
  firstStep,
  manualClock,
  nextTotp,
  secondStep,
  sessionCount,
  startTotp,
  statusCounts,
  userIdOf,
  userWithTotp,
  userWithTotpAndEarlierSession,
} from './flow-support.js';

type SetCookie = { name: string; value: string; path?: string; secure?: boolean; httpOnly?: boolean; sameSite?: string };
const AUTH_COOKIE = /tessera_(at|rt|csrf)$/;

// Real Redis for the mfa_token records (what production runs); a clock the tests move.
const clock = manualClock();
const ctx = await buildTestApp(t, { kv: 'redis', clock });

t.test('a user with a confirmed factor: the password alone answers mfa_required and opens no session', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const before = await sessionCount(ctx, user.id);
  const { res, body } = await login(ctx, user.email, user.password);
  t.equal(res.statusCode, 200, res.body);
  t.equal(res.headers['cache-control'], 'no-store');
  t.same(Object.keys(body).sort(), ['device_token', 'expires_in', 'methods', 'mfa_token', 'status']);
  t.equal(body.status, 'mfa_required');
  t.same(body.methods, ['totp', 'backup_code']);
  t.equal(body.expires_in, 300);
  t.type(body.mfa_token, 'string');
  t.ok(body.mfa_token.length >= 43, 'the mfa_token carries at least 256 bits');
  t.notOk('access_token' in body || 'refresh_token' in body || 'session_id' in body, 'no token and no session id');
  t.equal(await sessionCount(ctx, user.id), before, 'no session row exists before the second step');

  const done = await secondStep(ctx, body.mfa_token, 'totp', nextTotp(user.secret, clock));
  t.equal(done.statusCode, 200, done.body);
  t.equal(done.headers['cache-control'], 'no-store');
  t.equal(await sessionCount(ctx, user.id), before + 1, 'the second step opens exactly one session');
});

t.test('the mfa_token is not a credential anywhere else: bearer, cookie, refresh token, token exchange, reauthentication', async (t) => {
  // A cookie-mode session from before the factor was turned on: its CSRF token lets the refresh
  // endpoint get as far as the refresh token itself.
  const user = await createVerifiedUser(ctx);
  const cookieLogin = await ctx.app.inject({ method: 'POST', url: '/v1/login', payload: { ...user, mode: 'cookie' } });
  t.equal(cookieLogin.statusCode, 200);
  const csrfToken = cookieLogin.json<{ csrf_token: string; session_id: string }>().csrf_token;
  const cookieSessionId = cookieLogin.json<{ session_id: string }>().session_id;
  const csrfCookie = (cookieLogin.cookies as SetCookie[]).find((c) => c.name.endsWith('tessera_csrf'))!;
  const { tokens } = { tokens: (await login(ctx, user.email, user.password)).body };
  const { secret } = await startTotp(ctx, bearer(tokens.access_token));
  const confirm = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/mfa/totp/confirm',
    headers: bearer(tokens.access_token),
    payload: { code: nextTotp(secret, clock) },
  });
  t.equal(confirm.statusCode, 200, confirm.body);
  const userId = await userIdOf(ctx, user.email);
  const { mfa_token } = await firstStep(ctx, user);
  const sessionsBefore = await sessionCount(ctx, userId);

  const asBearer = bearer(mfa_token);
  const refused: Array<[string, InjectOptions, number, string]> = [
    ['GET /v1/me (bearer)', { method: 'GET', url: '/v1/me', headers: asBearer }, 401, 'INVALID_TOKEN'],
    ['GET /v1/me/sessions (bearer)', { method: 'GET', url: '/v1/me/sessions', headers: asBearer }, 401, 'INVALID_TOKEN'],
    ['GET /v1/me/mfa (bearer)', { method: 'GET', url: '/v1/me/mfa', headers: asBearer }, 401, 'INVALID_TOKEN'],
    ['POST /v1/logout (bearer)', { method: 'POST', url: '/v1/logout', headers: asBearer }, 401, 'INVALID_TOKEN'],
    [
      'POST /v1/me/reauthenticate (bearer)',
      { method: 'POST', url: '/v1/me/reauthenticate', headers: asBearer, payload: { method: 'totp', code: '123456' } },
      401,
      'INVALID_TOKEN',
    ],
    [
      'POST /v1/me/reauthenticate with the password (bearer)',
      { method: 'POST', url: '/v1/me/reauthenticate', headers: asBearer, payload: { password: user.password } },
      401,
      'INVALID_TOKEN',
    ],
    ['POST /v1/me/mfa/totp (bearer)', { method: 'POST', url: '/v1/me/mfa/totp', headers: asBearer }, 401, 'INVALID_TOKEN'],
    [
      'DELETE /v1/me (bearer)',
      { method: 'DELETE', url: '/v1/me', headers: asBearer, payload: { password: user.password } },
      401,
      'INVALID_TOKEN',
    ],
    ['GET /v1/me (access cookie)', { method: 'GET', url: '/v1/me', cookies: { '__Host-tessera_at': mfa_token } }, 401, 'INVALID_TOKEN'],
    [
      'POST /v1/token refresh_token grant',
      { method: 'POST', url: '/v1/token', payload: { grant_type: 'refresh_token', refresh_token: mfa_token } },
      400,
      'INVALID_GRANT',
    ],
    [
      'POST /v1/token refresh_token grant (form)',
      {
        method: 'POST',
        url: '/v1/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: mfa_token }).toString(),
      },
      400,
      'INVALID_GRANT',
    ],
    [
      'POST /v1/token token exchange grant',
      {
        method: 'POST',
        url: '/v1/token',
        payload: {
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: mfa_token,
          subject_token_type: 'urn:tessera:token-type:pat',
        },
      },
      400,
      'INVALID_GRANT',
    ],
    [
      'POST /v1/token/refresh (as the refresh cookie, with a real session and its CSRF token)',
      {
        method: 'POST',
        url: '/v1/token/refresh',
        cookies: { '__Secure-tessera_rt': `${cookieSessionId}.${mfa_token}`, [csrfCookie.name]: csrfCookie.value },
        headers: { 'x-csrf-token': csrfToken },
      },
      400,
      'INVALID_GRANT',
    ],
    [
      'POST /v1/token/refresh (as the CSRF token too)',
      {
        method: 'POST',
        url: '/v1/token/refresh',
        cookies: { '__Secure-tessera_rt': `${randomUUID()}.${mfa_token}`, '__Host-tessera_csrf': mfa_token },
        headers: { 'x-csrf-token': mfa_token },
      },
      403,
      'CSRF_TOKEN_INVALID',
    ],
  ];
  for (const [label, request, status, code] of refused) {
    const res = await ctx.app.inject(request);
    const body = assertProblem(t, res, status, code, label);
    t.notOk('access_token' in body, `${label}: no token`);
    t.notOk(
      ((res.cookies ?? []) as SetCookie[]).some((c) => AUTH_COOKIE.test(c.name) && c.value),
      `${label}: no session cookie is set`,
    );
  }
  t.equal(await sessionCount(ctx, userId), sessionsBefore, 'no session was opened by any of them');
  const row = await ctx.db.selectFrom('sessions').select('revoked_at').where('id', '=', cookieSessionId).executeTakeFirstOrThrow();
  t.equal(row.revoked_at, null, 'the cookie session the attempt rode on was not disturbed');

  // It was refused for what it is, not because it had died: it still completes its own login.
  const done = await secondStep(ctx, mfa_token, 'totp', nextTotp(secret, clock));
  t.equal(done.statusCode, 200, done.body);
  t.equal(await sessionCount(ctx, userId), sessionsBefore + 1);
  const spent = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: asBearer });
  assertProblem(t, spent, 401, 'INVALID_TOKEN', 'a spent mfa_token is no bearer token either');
});

t.test('no aal2 without the factor: wrong and missing proofs open nothing, and aal1 sessions stay aal1', async (t) => {
  const user = await userWithTotpAndEarlierSession(ctx, clock);
  const before = await sessionCount(ctx, user.id);
  const { mfa_token } = await firstStep(ctx, user);
  for (const [method, code] of [
    ['totp', '000000'],
    ['backup_code', 'aaaaa-bbbbb'],
    // The confirm's own code (the clock has not moved): a spent step.
    ['totp', totpCode(user.secret, clock.nowSeconds())],
  ] as const) {
    const res = await secondStep(ctx, mfa_token, method, code);
    assertProblem(t, res, 401, 'MFA_CODE_INVALID', `${method} ${code}`);
  }
  t.equal(await sessionCount(ctx, user.id), before, 'no session');
  // A password session from before the factor was turned on is still the aal1 it was (only the
  // session that confirmed the factor was lifted, by proving it).
  const session = await ctx.db
    .selectFrom('sessions')
    .select(['aal', 'amr'])
    .where('id', '=', user.earlier.tokens.session_id)
    .executeTakeFirstOrThrow();
  t.same(session, { aal: 1, amr: ['pwd'] });
  const refreshed = await refresh(ctx, user.earlier.tokens.refresh_token);
  t.equal(refreshed.res.statusCode, 200);
  t.equal(decode(refreshed.body.access_token).claims.aal, 1, 'refreshing an old session does not make it aal2');
});

t.test('two right answers at once complete the login once: one 200, one MFA_TOKEN_INVALID, one session', async (t) => {
  const user = await userWithTotp(ctx, clock);
  for (let round = 0; round < 3; round++) {
    const before = await sessionCount(ctx, user.id);
    const { mfa_token } = await firstStep(ctx, user);
    // Two different right proofs (two backup codes), so no factor-level replay check decides it.
    const [a, b] = user.backupCodes.splice(0, 2);
    const answers = await Promise.all([secondStep(ctx, mfa_token, 'backup_code', a), secondStep(ctx, mfa_token, 'backup_code', b)]);
    t.same(statusCounts(answers), { 200: 1, 401: 1 }, `round ${round}: ${answers.map((r) => r.body.slice(0, 80)).join(' | ')}`);
    assertProblem(
      t,
      answers.find((r) => r.statusCode === 401)!,
      401,
      'MFA_TOKEN_INVALID',
    );
    t.equal(await sessionCount(ctx, user.id), before + 1, 'exactly one session');
  }

  const { mfa_token } = await firstStep(ctx, user);
  t.equal((await secondStep(ctx, mfa_token, 'totp', nextTotp(user.secret, clock))).statusCode, 200);
  const again = await secondStep(ctx, mfa_token, 'backup_code', user.backupCodes[0]);
  assertProblem(t, again, 401, 'MFA_TOKEN_INVALID', 'a completed mfa_token cannot be completed again');
});

t.test('a method the account does not have: 400 MFA_METHOD_UNAVAILABLE, listing the methods it has, no try spent', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const { mfa_token } = await firstStep(ctx, user);
  const sms = await secondStep(ctx, mfa_token, 'sms', '123456');
  const body = assertProblem(t, sms, 400, 'MFA_METHOD_UNAVAILABLE');
  t.same(body.methods, ['totp', 'backup_code']);
  const sendSms = await ctx.app.inject({ method: 'POST', url: '/v1/login/mfa/sms', payload: { mfa_token } });
  assertProblem(t, sendSms, 400, 'MFA_METHOD_UNAVAILABLE', 'no text is sent for an account without a phone');
  const keyOptions = await ctx.app.inject({ method: 'POST', url: '/v1/login/mfa/webauthn/options', payload: { mfa_token } });
  assertProblem(t, keyOptions, 400, 'MFA_METHOD_UNAVAILABLE', 'no WebAuthn options for an account without a key');
  const keyAnswer = await ctx.app.inject({ method: 'POST', url: '/v1/login/mfa/webauthn', payload: { mfa_token, response: { id: 'x' } } });
  assertProblem(t, keyAnswer, 400, 'MFA_METHOD_UNAVAILABLE', 'no WebAuthn assertion for an account without a key');
  // None of that spent one of the five tries.
  const wrong = await secondStep(ctx, mfa_token, 'totp', '000000');
  t.equal(assertProblem(t, wrong, 401, 'MFA_CODE_INVALID').attempts_remaining, 4);
});

t.test('a pending (unconfirmed) authenticator app does not make the login ask for a second factor', async (t) => {
  const user = await loggedInUser(ctx);
  await startTotp(ctx, user.auth);
  const { res, body } = await login(ctx, user.email, user.password);
  t.equal(res.statusCode, 200);
  t.equal(body.status, 'authenticated');
  t.equal(decode(body.access_token).claims.aal, 1);
  const summary = await ctx.app.inject({ method: 'GET', url: '/v1/me/mfa', headers: user.auth });
  t.same(summary.json().factors, [], 'and it is not listed as on');
});

t.test('after the second step: aal 2 and amr [pwd, otp] in the token, the session row, the session list and every refresh', async (t) => {
  const user = await userWithTotpAndEarlierSession(ctx, clock);
  const pair = await aal2Login(ctx, user, clock);
  const { claims } = decode(pair.access_token);
  t.equal(claims.aal, 2);
  t.same(claims.amr, ['pwd', 'otp']);
  t.equal(claims.sid, pair.session_id);
  const row = await ctx.db
    .selectFrom('sessions')
    .select(['aal', 'amr', 'auth_aal', 'auth_at'])
    .where('id', '=', pair.session_id)
    .executeTakeFirstOrThrow();
  t.same({ aal: row.aal, amr: row.amr, auth_aal: row.auth_aal }, { aal: 2, amr: ['pwd', 'otp'], auth_aal: 2 });
  t.equal(row.auth_at.getTime(), clock.now().getTime(), 'authenticated now, by the app clock');

  const list = await ctx.app.inject({ method: 'GET', url: '/v1/me/sessions', headers: pair.auth });
  const sessions = list.json().sessions as Array<{ id: string; aal: number; current: boolean }>;
  t.match(
    sessions.find((s) => s.id === pair.session_id),
    { aal: 2, current: true },
  );
  t.match(
    sessions.find((s) => s.id === user.earlier.tokens.session_id),
    { aal: 1, current: false },
    'the older password session stays aal1',
  );

  let refreshToken = pair.refresh_token;
  for (let i = 0; i < 2; i++) {
    const next = await refresh(ctx, refreshToken);
    t.equal(next.res.statusCode, 200, next.res.body);
    const c = decode(next.body.access_token).claims;
    t.equal(c.aal, 2, `refresh ${i + 1} keeps aal 2`);
    t.same(c.amr, ['pwd', 'otp'], `refresh ${i + 1} keeps the amr`);
    t.equal(next.body.session_id, pair.session_id);
    refreshToken = next.body.refresh_token;
  }

  // A backup code is a one-time password too.
  const { mfa_token } = await firstStep(ctx, user);
  const byCode = await secondStep(ctx, mfa_token, 'backup_code', user.backupCodes[0].toUpperCase().replace('-', ' '));
  t.equal(byCode.statusCode, 200, byCode.body);
  t.match(decode(byCode.json().access_token).claims, { aal: 2, amr: ['pwd', 'otp'] });
});

t.test('cookie mode: the first step answers mfa_required in JSON with no session cookie; the second step sets them', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const first = await ctx.app.inject({
    method: 'POST',
    url: '/v1/login',
    payload: { email: user.email, password: user.password, mode: 'cookie' },
  });
  t.equal(first.statusCode, 200, first.body);
  const body = first.json();
  t.equal(body.status, 'mfa_required');
  t.notOk('device_token' in body, 'cookie mode keeps the device token in its cookie');
  const firstCookies = (first.cookies ?? []) as SetCookie[];
  t.same(
    firstCookies.filter((c) => AUTH_COOKIE.test(c.name)).map((c) => c.name),
    [],
    'no access, refresh or CSRF cookie before the second step',
  );

  const second = await secondStep(ctx, body.mfa_token, 'totp', nextTotp(user.secret, clock));
  t.equal(second.statusCode, 200, second.body);
  const done = second.json();
  t.same(Object.keys(done).sort(), ['csrf_token', 'expires_in', 'refresh_expires_in', 'session_id', 'status', 'token_type']);
  t.match(done, { status: 'authenticated', token_type: 'cookie', expires_in: 900, refresh_expires_in: 43200 });
  const cookies = second.cookies as SetCookie[];
  const role = (suffix: string) => cookies.find((c) => c.name.endsWith(suffix))!;
  t.match(role('tessera_at'), { name: '__Host-tessera_at', path: '/', secure: true, httpOnly: true, sameSite: 'Strict' });
  t.match(role('tessera_rt'), { name: '__Secure-tessera_rt', path: '/v1/token', secure: true, httpOnly: true, sameSite: 'Strict' });
  t.match(role('tessera_csrf'), { name: '__Host-tessera_csrf', value: done.csrf_token, secure: true, sameSite: 'Strict' });
  t.match(decode(role('tessera_at').value).claims, { aal: 2, amr: ['pwd', 'otp'], sid: done.session_id });

  const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', cookies: { [role('tessera_at').name]: role('tessera_at').value } });
  t.equal(me.statusCode, 200, 'the access cookie authenticates');
  const renewed = await ctx.app.inject({
    method: 'POST',
    url: '/v1/token/refresh',
    cookies: { [role('tessera_rt').name]: role('tessera_rt').value, [role('tessera_csrf').name]: role('tessera_csrf').value },
    headers: { 'x-csrf-token': done.csrf_token },
  });
  t.equal(renewed.statusCode, 200, renewed.body);
  const renewedAccess = (renewed.cookies as SetCookie[]).find((c) => c.name === '__Host-tessera_at')!;
  t.match(decode(renewedAccess.value).claims, { aal: 2, amr: ['pwd', 'otp'] }, 'cookie renewal keeps aal 2');
});

t.test('a token-mode first step gets tokens (not cookies) from the second', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const { mfa_token } = await firstStep(ctx, user);
  const second = await secondStep(ctx, mfa_token, 'totp', nextTotp(user.secret, clock));
  t.equal(second.json().token_type, 'Bearer');
  t.same(
    ((second.cookies ?? []) as SetCookie[]).filter((c) => AUTH_COOKIE.test(c.name)),
    [],
  );
});

t.test('an mfa_token lives five minutes, by the app clock (the store keeping it a little longer does not matter)', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const late = await firstStep(ctx, user);
  const inTime = await firstStep(ctx, user);
  clock.advance(299);
  const ok = await secondStep(ctx, inTime.mfa_token, 'backup_code', user.backupCodes[0]);
  t.equal(ok.statusCode, 200, `at 4 min 59 s: ${ok.body}`);
  clock.advance(2);
  const before = await sessionCount(ctx, user.id);
  const expired = await secondStep(ctx, late.mfa_token, 'backup_code', user.backupCodes[1]);
  assertProblem(t, expired, 401, 'MFA_TOKEN_INVALID', 'at 5 min 1 s (Redis still holds the record)');
  t.equal(await sessionCount(ctx, user.id), before);
  const codes = await ctx.db.selectFrom('mfa_backup_codes').select('used_at').where('user_id', '=', user.id).execute();
  t.equal(codes.filter((c) => c.used_at).length, 1, 'the expired attempt spent no backup code');
});

t.test('unknown, malformed-but-valid and foreign tokens: 401 MFA_TOKEN_INVALID', async (t) => {
  for (const token of [randomBytes(32).toString('base64url'), 'x', 'A'.repeat(128)]) {
    const res = await secondStep(ctx, token, 'totp', '123456');
    assertProblem(t, res, 401, 'MFA_TOKEN_INVALID', token.slice(0, 12));
  }
  // A refresh token is not an mfa_token either.
  const user = await loggedInUser(ctx);
  assertProblem(t, await secondStep(ctx, user.tokens.refresh_token, 'totp', '123456'), 401, 'MFA_TOKEN_INVALID', 'refresh token');
  assertProblem(
    t,
    await secondStep(ctx, user.tokens.access_token.slice(0, 128), 'totp', '123456'),
    401,
    'MFA_TOKEN_INVALID',
    'access token',
  );
});

t.test('a password change or reset between the two steps ends the parked login, as it ends sessions', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const beforeChange = await firstStep(ctx, user);
  const newPassword = 'amber-quarry-telescope-77';
  const change = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/password',
    headers: user.auth,
    payload: { current_password: user.password, new_password: newPassword },
  });
  t.equal(change.statusCode, 200, change.body);
  const sessions = await sessionCount(ctx, user.id);
  const stale = await secondStep(ctx, beforeChange.mfa_token, 'totp', nextTotp(user.secret, clock));
  assertProblem(t, stale, 401, 'MFA_TOKEN_INVALID', 'after a password change');
  t.equal(await sessionCount(ctx, user.id), sessions, 'no session');
  const withNew = await firstStep(ctx, { email: user.email, password: newPassword });

  const forgot = await ctx.app.inject({ method: 'POST', url: '/v1/password/forgot', payload: { email: user.email } });
  t.equal(forgot.statusCode, 202);
  const token = await waitForLinkToken(ctx, user.email, 'reset-password');
  const reset = await ctx.app.inject({ method: 'POST', url: '/v1/password/reset', payload: { token, password: user.password } });
  t.equal(reset.statusCode, 200, reset.body);
  const afterReset = await secondStep(ctx, withNew.mfa_token, 'backup_code', user.backupCodes[0]);
  assertProblem(t, afterReset, 401, 'MFA_TOKEN_INVALID', 'after a password reset');
  const codes = await ctx.db.selectFrom('mfa_backup_codes').select('used_at').where('user_id', '=', user.id).execute();
  t.equal(codes.filter((c) => c.used_at).length, 0, 'no backup code was spent on it');

  // A login begun with the password now in force goes through.
  const fresh = await firstStep(ctx, user);
  t.equal((await secondStep(ctx, fresh.mfa_token, 'totp', nextTotp(user.secret, clock))).statusCode, 200);
});
