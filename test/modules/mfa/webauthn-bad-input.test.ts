/**
 * Bad input on every WebAuthn endpoint: a 4xx problem with a stable code, never a 500, and
 * nothing written (no factor, no session, no backup code, no spent challenge that mattered).
 */
import t from 'tap';
import { loggedInUser, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import {
  countRows,
  mfaToken,
  passkeyOptions,
  platformAuthenticator,
  registrationOptions,
  userWithKey,
  webauthnApp,
  type Bearer,
} from './webauthn-support.js';

type Req = { method: 'POST' | 'PATCH' | 'DELETE'; url: string; payload?: unknown; raw?: string; auth?: boolean };

function send(ctx: TestApp, auth: Bearer, req: Req) {
  const headers: Record<string, string> = { ...(req.auth === false ? {} : auth) };
  if (req.raw !== undefined) headers['content-type'] = 'application/json';
  return ctx.app.inject({
    method: req.method,
    url: req.url,
    headers,
    ...(req.raw !== undefined ? { payload: req.raw } : req.payload === undefined ? {} : { payload: req.payload as object }),
  });
}

async function snapshot(ctx: TestApp) {
  const rows = await ctx.db.selectFrom('mfa_factors').select(['id', 'name', 'sign_count', 'last_used_at']).orderBy('id').execute();
  const codes = await ctx.db.selectFrom('mfa_backup_codes').select(['code_hash', 'used_at']).execute();
  return { ...(await countRows(ctx)), rows, codes: codes.length };
}

t.test('every endpoint answers bad input with a 4xx problem and writes nothing', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKey(ctx, platformAuthenticator(), { passkey: true });
  const fresh = await loggedInUser(ctx);
  // Live ceremonies, so that a refusal could not be blamed on a missing challenge.
  const options = await registrationOptions(ctx, fresh.auth);
  const good = platformAuthenticator().register(options as never);
  const { challenge_id, options: loginOpts } = await passkeyOptions(ctx);
  const assertion = user.authenticator.assert(loginOpts as never);
  const token = await mfaToken(ctx, user.email, user.password);

  // Longer than a clientDataJSON may be (4096), well inside the body limit.
  const huge = 'A'.repeat(5_000);
  const register = '/v1/me/webauthn/registration';
  const cases: Array<[string, Req, string?, number?]> = [
    ['options: passkey not a boolean', { method: 'POST', url: `${register}/options`, payload: { passkey: 'yes' } }],
    ['options: unknown field', { method: 'POST', url: `${register}/options`, payload: { passkey: true, admin: true } }],
    ['options: an array', { method: 'POST', url: `${register}/options`, payload: [] }],
    ['options: malformed JSON', { method: 'POST', url: `${register}/options`, raw: '{"passkey":' }, 'MALFORMED_BODY'],
    ['registration: no body', { method: 'POST', url: register }],
    ['registration: no response', { method: 'POST', url: register, payload: { name: 'x' } }],
    ['registration: response a string', { method: 'POST', url: register, payload: { response: 'abc' } }],
    ['registration: wrong type', { method: 'POST', url: register, payload: { response: { ...good, type: 'password' } } }],
    [
      'registration: no attestationObject',
      { method: 'POST', url: register, payload: { response: { ...good, response: { clientDataJSON: good.response.clientDataJSON } } } },
    ],
    ['registration: not base64url', { method: 'POST', url: register, payload: { response: { ...good, id: 'a+b/c', rawId: 'a+b/c' } } }],
    [
      'registration: a huge field',
      { method: 'POST', url: register, payload: { response: { ...good, response: { ...good.response, clientDataJSON: huge } } } },
    ],
    [
      'registration: over the body limit',
      { method: 'POST', url: register, payload: { response: good, name: 'x', pad: 'A'.repeat(200_000) } },
      'BODY_TOO_LARGE',
      413,
    ],
    [
      'registration: a number for transports',
      { method: 'POST', url: register, payload: { response: { ...good, response: { ...good.response, transports: 5 } } } },
    ],
    ['registration: name too long', { method: 'POST', url: register, payload: { response: good, name: 'n'.repeat(65) } }],
    ['registration: control characters in the name', { method: 'POST', url: register, payload: { response: good, name: 'a\u0007b' } }],
    [
      'registration: revoke_other_sessions a string',
      { method: 'POST', url: register, payload: { response: good, revoke_other_sessions: 'true' } },
    ],
    ['registration: unknown field', { method: 'POST', url: register, payload: { response: good, passkey: true } }],
    ['rename: not a uuid', { method: 'PATCH', url: '/v1/me/webauthn/credentials/123', payload: { name: 'x' } }],
    ['rename: no body', { method: 'PATCH', url: `/v1/me/webauthn/credentials/${user.factorId}` }],
    ['delete: not a uuid', { method: 'DELETE', url: "/v1/me/webauthn/credentials/1'%20or%201=1" }],
    ['passkey options: unknown field', { method: 'POST', url: '/v1/login/passkey/options', payload: { email: 'a@b.c' }, auth: false }],
    ['passkey options: a string', { method: 'POST', url: '/v1/login/passkey/options', payload: 'x', raw: '"x"', auth: false }],
    ['passkey: no body', { method: 'POST', url: '/v1/login/passkey', auth: false }],
    ['passkey: no challenge_id', { method: 'POST', url: '/v1/login/passkey', payload: { response: assertion }, auth: false }],
    [
      'passkey: challenge_id too long',
      { method: 'POST', url: '/v1/login/passkey', payload: { challenge_id: 'a'.repeat(129), response: assertion }, auth: false },
    ],
    [
      'passkey: challenge_id with a key separator',
      { method: 'POST', url: '/v1/login/passkey', payload: { challenge_id: 'a:b', response: assertion }, auth: false },
    ],
    ['passkey: no response', { method: 'POST', url: '/v1/login/passkey', payload: { challenge_id }, auth: false }],
    [
      'passkey: no signature',
      {
        method: 'POST',
        url: '/v1/login/passkey',
        payload: { challenge_id, response: { ...assertion, response: { ...assertion.response, signature: undefined } } },
        auth: false,
      },
    ],
    [
      'passkey: userHandle a number',
      {
        method: 'POST',
        url: '/v1/login/passkey',
        payload: { challenge_id, response: { ...assertion, response: { ...assertion.response, userHandle: 7 } } },
        auth: false,
      },
    ],
    [
      'passkey: mode unknown',
      { method: 'POST', url: '/v1/login/passkey', payload: { challenge_id, response: assertion, mode: 'jwt' }, auth: false },
    ],
    [
      'passkey: unknown field',
      { method: 'POST', url: '/v1/login/passkey', payload: { challenge_id, response: assertion, user_id: user.id }, auth: false },
    ],
    ['mfa options: no token', { method: 'POST', url: '/v1/login/mfa/webauthn/options', payload: {}, auth: false }],
    [
      'mfa: response not an object',
      { method: 'POST', url: '/v1/login/mfa/webauthn', payload: { mfa_token: token, response: 'x' }, auth: false },
    ],
    ['mfa: no response', { method: 'POST', url: '/v1/login/mfa/webauthn', payload: { mfa_token: token }, auth: false }],
  ];

  const before = await snapshot(ctx);
  for (const [label, req, code, status] of cases) {
    const res = await send(ctx, fresh.auth, req);
    assertProblem(t, res, status ?? 400, code ?? 'VALIDATION_FAILED', label);
  }
  t.same(await snapshot(ctx), before, 'nothing written');

  // The refused requests spent nothing: the live ceremonies still complete.
  const registered = await send(ctx, fresh.auth, { method: 'POST', url: register, payload: { response: good } });
  t.equal(registered.statusCode, 200, `the registration still completes: ${registered.body}`);
  const signedIn = await send(ctx, fresh.auth, {
    method: 'POST',
    url: '/v1/login/passkey',
    payload: { challenge_id, response: assertion },
    auth: false,
  });
  t.equal(signedIn.statusCode, 200, `the passkey login still completes: ${signedIn.body}`);
});

t.test('a well-formed but meaningless proof at the second step is a wrong proof (401), not a 500', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKey(ctx);
  const token = await mfaToken(ctx, user.email, user.password);
  for (const response of [
    {},
    { id: 5 },
    { id: 'AA', rawId: 'AA', type: 'public-key', response: {} },
    { id: '!!', nested: { a: [1, 2] } },
  ]) {
    const res = await ctx.app.inject({ method: 'POST', url: '/v1/login/mfa/webauthn', payload: { mfa_token: token, response } });
    t.equal(res.statusCode, 401, JSON.stringify(response));
    t.equal(res.json().code, 'MFA_CODE_INVALID');
  }
  const reauth = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/reauthenticate',
    headers: user.auth,
    payload: { method: 'webauthn', response: { id: 'AA' } },
  });
  assertProblem(t, reauth, 401, 'MFA_CODE_INVALID', 'reauthenticate');
});
