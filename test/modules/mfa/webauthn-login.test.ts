/**
 * A security key as the second factor of a login (POST /v1/login/mfa/webauthn/options, then
 * POST /v1/login/mfa/webauthn): aal2 with the right amr, and every forged, replayed, misdirected
 * or cloned assertion refused without a session.
 */
import t from 'tap';
import { login, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import {
  auditEvents,
  claimsOf,
  countRows,
  loginOptions,
  mfaToken,
  platformAuthenticator,
  post,
  securityKey,
  syncedPasskeyProvider,
  userWithKey,
  userWithKeyAndEarlierSession,
  webauthnApp,
  RP_ID,
} from './webauthn-support.js';

const complete = (ctx: TestApp, token: string, response: unknown) => post(ctx, '/v1/login/mfa/webauthn', { mfa_token: token, response });

t.test('a security key completes the login: aal2, amr pwd+hwk in the JWT and the session, counter and last use stored', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKey(ctx);
  const { res: first, body } = await login(ctx, user.email, user.password);
  t.equal(first.statusCode, 200);
  t.match(body, { status: 'mfa_required', methods: ['webauthn', 'backup_code'] });

  const options = await loginOptions(ctx, body.mfa_token);
  t.equal(options.rpId, RP_ID);
  t.equal(options.userVerification, 'discouraged', 'a second factor after a password asks for no PIN');
  t.same(
    (options.allowCredentials as Array<{ id: string }>).map((c) => c.id),
    [user.authenticator.credentials[0]!.id.toString('base64url')],
    "allowCredentials: the account's keys",
  );
  t.equal(Buffer.from(options.challenge, 'base64url').length, 32);

  const res = await complete(ctx, body.mfa_token, user.authenticator.assert(options as never));
  t.equal(res.statusCode, 200, res.body);
  t.equal(res.headers['cache-control'], 'no-store');
  const tokens = res.json();
  const claims = claimsOf(tokens.access_token);
  t.equal(claims.aal, 2);
  t.same(claims.amr, ['pwd', 'hwk'], 'password and a hardware-bound key (RFC 8176)');
  const session = await ctx.db.selectFrom('sessions').selectAll().where('id', '=', tokens.session_id).executeTakeFirstOrThrow();
  t.match(session, { aal: 2, amr: ['pwd', 'hwk'], auth_aal: 2 });

  const row = await ctx.db.selectFrom('mfa_factors').selectAll().where('id', '=', user.factorId).executeTakeFirstOrThrow();
  t.equal(row.sign_count, '1', 'the counter moved to what the key reported');
  t.ok(row.last_used_at, 'last use stamped');
  // One event per login: the session.login names the method and the key.
  const logins = await auditEvents(ctx, 'session.login', 2);
  t.match(logins.at(-1), { actor_id: user.id, data: { amr: ['pwd', 'hwk'], aal: 2, method: 'webauthn', factor_id: user.factorId } });

  // The token is spent.
  const again = await post(ctx, '/v1/login/mfa/webauthn/options', { mfa_token: body.mfa_token });
  assertProblem(t, again, 401, 'MFA_TOKEN_INVALID', 'the mfa_token after use');
});

t.test('a synced passkey as the second factor is swk; a cookie-mode login gets cookies', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKey(ctx, syncedPasskeyProvider(), { passkey: true });
  const { body } = await login(ctx, user.email, user.password, { mode: 'cookie' });
  const options = await loginOptions(ctx, body.mfa_token);
  const res = await complete(ctx, body.mfa_token, user.authenticator.assert(options as never));
  t.equal(res.statusCode, 200, res.body);
  t.match(res.json(), { status: 'authenticated', token_type: 'cookie' });
  t.notOk('access_token' in res.json());
  const session = await ctx.db.selectFrom('sessions').selectAll().where('id', '=', res.json().session_id).executeTakeFirstOrThrow();
  t.same(session.amr, ['pwd', 'swk'], 'a synced key is software-held (RFC 8176 swk)');
  // A counterless authenticator (always 0) keeps working.
  const token2 = await mfaToken(ctx, user.email, user.password);
  const again = await complete(ctx, token2, user.authenticator.assert((await loginOptions(ctx, token2)) as never));
  t.equal(again.statusCode, 200, 'a counter that stays 0 is no clone');
});

t.test('refused assertions: no session, the try is counted, the failure audited', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKey(ctx);
  const other = await userWithKey(ctx, securityKey());
  const before = await countRows(ctx);

  type Case = [label: string, make: (options: never) => unknown];
  const key = user.authenticator;
  const cases: Case[] = [
    ['a bad signature', (o) => key.assert(o, { tamper: 'signature' })],
    ['an origin not in WEBAUTHN_ORIGINS', (o) => key.assert(o, { origin: 'https://evil.example' })],
    ['another RP ID', (o) => key.assert(o, { rpId: 'evil.example' })],
    ['a registration type', (o) => key.assert(o, { type: 'webauthn.create' })],
    ['no user presence', (o) => key.assert(o, { flags: { up: false } })],
    ['a challenge of its own', (o) => key.assert(o, { challenge: Buffer.alloc(32, 3).toString('base64url') })],
    [
      "another account's key",
      (o) => other.authenticator.assert(o, { credentialId: other.authenticator.credentials[0]!.id.toString('base64url') }),
    ],
    ['no response at all', () => ({})],
    ['a credential id nobody has', (o) => ({ ...key.assert(o), id: 'AAAA', rawId: 'AAAA' })],
  ];
  const token = await mfaToken(ctx, user.email, user.password);
  let left = 5;
  for (const [label, make] of cases.slice(0, 4)) {
    const options = await loginOptions(ctx, token);
    const res = await complete(ctx, token, make(options as never));
    const problem = assertProblem(t, res, 401, 'MFA_CODE_INVALID', label);
    t.equal(problem.attempts_remaining, --left, `${label}: one try used`);
  }
  // The fifth try ends the token; the rest of the cases each get a token of their own.
  for (const [label, make] of cases.slice(4)) {
    const fresh = await mfaToken(ctx, user.email, user.password);
    const res = await complete(ctx, fresh, make((await loginOptions(ctx, fresh)) as never));
    assertProblem(t, res, 401, 'MFA_CODE_INVALID', label);
  }
  const after = await countRows(ctx);
  t.equal(after.sessions, before.sessions, 'no session opened');
  const failures = await auditEvents(ctx, 'mfa.verification_failed', cases.length);
  t.ok(
    failures.every((f) => f.actor_id === user.id && f.data.method === 'webauthn'),
    'each failure audited for the account',
  );
  const row = await ctx.db.selectFrom('mfa_factors').selectAll().where('id', '=', user.factorId).executeTakeFirstOrThrow();
  t.equal(row.sign_count, '0', 'no refused assertion moved the counter');
});

t.test('a challenge answers once: a replayed assertion is refused, on the same login and on another', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKey(ctx);

  // Same login: the first answer (wrong) takes the challenge; the right one after it finds none.
  const token = await mfaToken(ctx, user.email, user.password);
  const options = await loginOptions(ctx, token);
  const good = user.authenticator.assert(options as never);
  assertProblem(
    t,
    await complete(ctx, token, { ...good, response: { ...good.response, signature: good.response.signature.slice(0, -4) + 'AAAA' } }),
    401,
    'MFA_CODE_INVALID',
  );
  assertProblem(t, await complete(ctx, token, good), 401, 'MFA_CODE_INVALID', 'the right answer to a spent challenge');

  // Another login: a recorded assertion does not answer its challenge.
  const later = await mfaToken(ctx, user.email, user.password);
  await loginOptions(ctx, later);
  assertProblem(t, await complete(ctx, later, good), 401, 'MFA_CODE_INVALID', 'an assertion replayed on another login');
  // No options asked for this login at all.
  const bare = await mfaToken(ctx, user.email, user.password);
  assertProblem(t, await complete(ctx, bare, user.authenticator.assert(options as never)), 401, 'MFA_CODE_INVALID', 'no options asked');

  // And the same valid assertion sent ten times at once completes the login once.
  const raced = await mfaToken(ctx, user.email, user.password);
  const assertion = user.authenticator.assert((await loginOptions(ctx, raced)) as never);
  const results = await Promise.all(Array.from({ length: 10 }, () => complete(ctx, raced, assertion)));
  t.equal(results.filter((r) => r.statusCode === 200).length, 1, 'exactly one session');
});

t.test('a cloned key: a counter that does not go up is refused and audited', async (t) => {
  const ctx = await webauthnApp(t, { kv: 'redis' });
  const user = await userWithKey(ctx);
  const clone = user.authenticator.clone();
  const signIn = async (authenticator: typeof user.authenticator, counter?: number) => {
    const token = await mfaToken(ctx, user.email, user.password);
    const options = await loginOptions(ctx, token);
    return complete(ctx, token, authenticator.assert(options as never, counter === undefined ? {} : { counter }));
  };
  t.equal((await signIn(user.authenticator)).statusCode, 200, 'counter 1');
  t.equal((await signIn(user.authenticator)).statusCode, 200, 'counter 2');

  // The clone was copied at counter 0; its next use says 1.
  assertProblem(t, await signIn(clone), 401, 'MFA_CODE_INVALID', 'the clone, behind');
  assertProblem(t, await signIn(user.authenticator, 2), 401, 'MFA_CODE_INVALID', 'the same counter again');
  assertProblem(t, await signIn(user.authenticator, 0), 401, 'MFA_CODE_INVALID', 'a counter back at 0');
  const clones = await auditEvents(ctx, 'mfa.webauthn_clone_detected', 3);
  t.match(clones[0], { actor_id: user.id, target_id: user.factorId, data: { stored_counter: 2, received_counter: 1 } });
  t.match(clones[2], { data: { stored_counter: 2, received_counter: 0 } });
  const row = await ctx.db.selectFrom('mfa_factors').selectAll().where('id', '=', user.factorId).executeTakeFirstOrThrow();
  t.equal(row.sign_count, '2', 'the stored counter did not move back');
  t.equal((await signIn(user.authenticator, 3)).statusCode, 200, 'the real key, moving on, still works');
});

t.test('a forged assertion does not raise a clone alarm (the counter is judged after the signature)', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKey(ctx);
  const token = await mfaToken(ctx, user.email, user.password);
  const options = await loginOptions(ctx, token);
  assertProblem(
    t,
    await complete(ctx, token, user.authenticator.assert(options as never, { counter: 0, tamper: 'signature' })),
    401,
    'MFA_CODE_INVALID',
  );
  await auditEvents(ctx, 'mfa.verification_failed');
  const clones = await ctx.db.selectFrom('audit_events').select('id').where('action', '=', 'mfa.webauthn_clone_detected').execute();
  t.equal(clones.length, 0);
});

t.test('user verification is not required of a second factor; a platform authenticator works too', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKey(ctx, platformAuthenticator());
  const token = await mfaToken(ctx, user.email, user.password);
  const res = await complete(ctx, token, user.authenticator.assert((await loginOptions(ctx, token)) as never, { flags: { uv: false } }));
  t.equal(res.statusCode, 200, res.body);
  t.same(claimsOf(res.json().access_token).amr, ['pwd', 'hwk']);
});

t.test('step-up with a key: reauthenticate, then remove a credential', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKeyAndEarlierSession(ctx);
  // A password session from before the key is aal1 (the one that registered it is aal2 since):
  // removing needs a fresh aal2.
  const { earlier } = user;
  const del = () => ctx.app.inject({ method: 'DELETE', url: `/v1/me/webauthn/credentials/${user.factorId}`, headers: earlier.auth });
  const refused = await del();
  const problem = assertProblem(t, refused, 403, 'REAUTHENTICATION_REQUIRED');
  t.match(problem, { required_aal: 2, methods: ['webauthn', 'backup_code'] });

  const challenge = await post(ctx, '/v1/me/reauthenticate/challenge', { method: 'webauthn' }, earlier.auth);
  t.equal(challenge.statusCode, 200, challenge.body);
  const options = challenge.json().options;
  const bad = await post(
    ctx,
    '/v1/me/reauthenticate',
    { method: 'webauthn', response: user.authenticator.assert(options, { tamper: 'signature' }) },
    earlier.auth,
  );
  assertProblem(t, bad, 401, 'MFA_CODE_INVALID', 'a forged step-up');
  const stale = await post(
    ctx,
    '/v1/me/reauthenticate',
    { method: 'webauthn', response: user.authenticator.assert(options) },
    earlier.auth,
  );
  assertProblem(t, stale, 401, 'MFA_CODE_INVALID', 'the spent step-up challenge');

  const fresh = (await post(ctx, '/v1/me/reauthenticate/challenge', { method: 'webauthn' }, earlier.auth)).json().options;
  const ok = await post(ctx, '/v1/me/reauthenticate', { method: 'webauthn', response: user.authenticator.assert(fresh) }, earlier.auth);
  t.equal(ok.statusCode, 200, ok.body);
  t.equal(ok.json().aal, 2);

  const removed = await del();
  t.equal(removed.statusCode, 204, removed.body);
  t.equal((await countRows(ctx)).factors, 0, 'the credential is gone');
  t.equal((await ctx.db.selectFrom('mfa_backup_codes').selectAll().execute()).length, 0, 'the backup codes went with the last factor');
  const [event] = await auditEvents(ctx, 'mfa.factor_removed');
  t.match(event, { actor_id: user.id, target_id: user.factorId, data: { kind: 'webauthn' } });
});
