/**
 * Passwordless login with a passkey (POST /v1/login/passkey/options, POST /v1/login/passkey):
 * an aal2 session from the passkey alone, and one indistinct 401 for every refusal.
 */
import t from 'tap';
import type { TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import {
  auditEvents,
  claimsOf,
  countRows,
  mfaToken,
  passkeyOptions,
  platformAuthenticator,
  post,
  RP_ID,
  securityKey,
  syncedPasskeyProvider,
  userWithKey,
  register,
  webauthnApp,
} from './webauthn-support.js';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import { manualClock, userWithTotp } from './totp-support.js';

/** The app's code after the clock moves on `advance` seconds. */
function nextCode(secret: string, clock: ReturnType<typeof manualClock>, advance: number): string {
  clock.advance(advance);
  return totpCode(secret, clock.seconds());
}

/** `n` codes the app shows neither now nor within two steps either side. */
function wrongCodes(secret: string, clock: ReturnType<typeof manualClock>, n: number): string[] {
  const near = new Set([-2, -1, 0, 1, 2].map((step) => totpCode(secret, clock.seconds() + step * 30)));
  const codes: string[] = [];
  for (let c = 100000; codes.length < n; c++) if (!near.has(String(c))) codes.push(String(c));
  return codes;
}

const signIn = (ctx: TestApp, body: Record<string, unknown>) => post(ctx, '/v1/login/passkey', body);

t.test('options: a challenge_id, no allowCredentials, user verification required; with no body or {}', async (t) => {
  const ctx = await webauthnApp(t);
  const res = await post(ctx, '/v1/login/passkey/options', {});
  t.equal(res.statusCode, 200, res.body);
  t.equal(res.headers['cache-control'], 'no-store');
  const { challenge_id, options } = res.json();
  t.match(challenge_id, /^[A-Za-z0-9_-]{43}$/, '256 random bits');
  t.equal(options.rpId, RP_ID);
  t.equal(options.userVerification, 'required');
  t.same(options.allowCredentials ?? [], [], 'the authenticator offers its own passkeys');
  t.equal(Buffer.from(options.challenge, 'base64url').length, 32);
  t.equal(options.timeout, 300_000);
  const bare = await ctx.app.inject({ method: 'POST', url: '/v1/login/passkey/options' });
  t.equal(bare.statusCode, 200, 'no body');
  t.not(bare.json().challenge_id, challenge_id);
});

t.test('a passkey alone signs in: aal2, amr hwk+user+mfa, session.login audited, counter moved', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKey(ctx, platformAuthenticator(), { passkey: true });
  const { challenge_id, options } = await passkeyOptions(ctx);
  const response = user.authenticator.assert(options as never);
  t.ok(response.response.userHandle, 'the authenticator returns the user handle');
  const res = await signIn(ctx, { challenge_id, response });
  t.equal(res.statusCode, 200, res.body);
  t.equal(res.headers['cache-control'], 'no-store');
  const tokens = res.json();
  t.match(tokens, { status: 'authenticated', token_type: 'Bearer', access_token: String, refresh_token: String });
  const claims = claimsOf(tokens.access_token);
  t.equal(claims.sub, user.id);
  t.equal(claims.aal, 2);
  t.same(claims.amr, ['hwk', 'user', 'mfa'], 'a key, the user present, and verified by PIN or biometric: multi-factor');
  const session = await ctx.db.selectFrom('sessions').selectAll().where('id', '=', tokens.session_id).executeTakeFirstOrThrow();
  t.match(session, { user_id: user.id, aal: 2, auth_aal: 2, amr: ['hwk', 'user', 'mfa'] });
  const logins = await auditEvents(ctx, 'session.login', 2);
  t.match(logins.at(-1), { actor_id: user.id, target_id: tokens.session_id, data: { amr: ['hwk', 'user', 'mfa'], aal: 2 } });
  const [verified] = await auditEvents(ctx, 'mfa.verified');
  t.match(verified, { actor_id: user.id, target_id: user.factorId, data: { method: 'passkey' } });
  const row = await ctx.db.selectFrom('mfa_factors').selectAll().where('id', '=', user.factorId).executeTakeFirstOrThrow();
  t.equal(row.sign_count, '1');

  // The session is a full one: step-up is satisfied right away.
  const auth = { authorization: `Bearer ${tokens.access_token}` };
  const codes = await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/backup-codes', headers: auth });
  t.equal(codes.statusCode, 200, 'a fresh aal2 session passes step-up');
});

t.test('a synced passkey: swk; cookie mode sets the session cookies', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKey(ctx, syncedPasskeyProvider(), { passkey: true });
  const { challenge_id, options } = await passkeyOptions(ctx);
  const res = await signIn(ctx, { challenge_id, response: user.authenticator.assert(options as never), mode: 'cookie' });
  t.equal(res.statusCode, 200, res.body);
  t.match(res.json(), { status: 'authenticated', token_type: 'cookie', csrf_token: String });
  t.notOk('access_token' in res.json() || 'refresh_token' in res.json(), 'no tokens in the body');
  const cookies = ([] as string[]).concat(res.headers['set-cookie'] as string[]);
  t.ok(
    cookies.some((c) => c.startsWith('__Host-tessera_at=')),
    'the access cookie',
  );
  const session = await ctx.db.selectFrom('sessions').selectAll().where('id', '=', res.json().session_id).executeTakeFirstOrThrow();
  t.same(session.amr, ['swk', 'user', 'mfa']);
});

t.test('every refusal is the same 401 PASSKEY_INVALID, opens no session, and is audited', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKey(ctx, platformAuthenticator(), { passkey: true });
  const keyUser = await userWithKey(ctx, securityKey({ userVerification: true }));
  const otherPasskey = await userWithKey(ctx, platformAuthenticator(), { passkey: true });
  const key = user.authenticator;
  const mine = key.credentials[0]!;
  const handleOf = (id: string) => Buffer.from(id.replace(/-/g, ''), 'hex').toString('base64url');

  // named: the failure is audited against the account (the credential and its user handle agree).
  type Case = [label: string, make: (options: never) => unknown, named: boolean];
  const cases: Case[] = [
    ['no user verification', (o) => key.assert(o, { flags: { uv: false } }), true],
    ['no user presence', (o) => key.assert(o, { flags: { up: false } }), true],
    ['a bad signature', (o) => key.assert(o, { tamper: 'signature' }), true],
    ['an origin not in WEBAUTHN_ORIGINS', (o) => key.assert(o, { origin: 'https://evil.example' }), true],
    ['another RP ID', (o) => key.assert(o, { rpId: 'evil.example' }), true],
    ['a challenge of its own', (o) => key.assert(o, { challenge: Buffer.alloc(32, 5).toString('base64url') }), true],
    ['no user handle', (o) => key.assert(o, { userHandle: null }), false],
    ["another account's user handle", (o) => key.assert(o, { userHandle: handleOf(otherPasskey.id) }), false],
    ['a credential id nobody has', (o) => ({ ...key.assert(o), id: 'AAAAAAAA', rawId: 'AAAAAAAA' }), false],
    // A security key (not registered as a passkey) is a second factor only, even with the right handle and UV.
    [
      'a security key',
      (o) =>
        keyUser.authenticator.assert(o, {
          credentialId: keyUser.authenticator.credentials[0]!.id.toString('base64url'),
          userHandle: handleOf(keyUser.id),
        }),
      false,
    ],
  ];
  const before = await countRows(ctx);
  const bodies: string[] = [];
  for (const [label, make] of cases) {
    const { challenge_id, options } = await passkeyOptions(ctx);
    const res = await signIn(ctx, { challenge_id, response: make(options as never) });
    const problem = assertProblem(t, res, 401, 'PASSKEY_INVALID', label);
    bodies.push(JSON.stringify({ ...problem, request_id: undefined }));
  }
  t.equal(new Set(bodies).size, 1, 'one answer for all: nothing says whether the credential exists');
  t.same(await countRows(ctx), before, 'no session opened, nothing written');
  t.equal(
    (await ctx.db.selectFrom('mfa_factors').select('sign_count').where('credential_id', '=', mine.id).executeTakeFirstOrThrow()).sign_count,
    '0',
    'the counter did not move',
  );

  const failures = await auditEvents(ctx, 'mfa.verification_failed', cases.length);
  const passkeyFailures = failures.filter((f) => f.data.method === 'passkey');
  t.same(
    passkeyFailures.map((f) => f.actor_id),
    cases.map(([, , named]) => (named ? user.id : null)),
    'the account is named once the credential and its user handle agree',
  );
  t.match(passkeyFailures[0]!.data, { purpose: 'login', reason: 'invalid_response' });
  t.match(passkeyFailures[2]!.data, { reason: 'bad_signature' });
  t.match(passkeyFailures[6]!.data, { reason: 'user_handle_mismatch' });
  t.match(passkeyFailures[8]!.data, { reason: 'unknown_credential' });
});

t.test('a challenge_id answers once; unknown and expired ones are refused alike', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKey(ctx, platformAuthenticator(), { passkey: true });
  const { challenge_id, options } = await passkeyOptions(ctx);
  const response = user.authenticator.assert(options as never);
  t.equal((await signIn(ctx, { challenge_id, response })).statusCode, 200);
  assertProblem(t, await signIn(ctx, { challenge_id, response }), 401, 'PASSKEY_INVALID', 'the same assertion again');

  // The assertion for one challenge sent with another challenge_id.
  const other = await passkeyOptions(ctx);
  assertProblem(
    t,
    await signIn(ctx, { challenge_id: other.challenge_id, response }),
    401,
    'PASSKEY_INVALID',
    'a replay on a new challenge',
  );
  assertProblem(
    t,
    await signIn(ctx, { challenge_id: 'A'.repeat(43), response: user.authenticator.assert(options as never) }),
    401,
    'PASSKEY_INVALID',
    'an unknown challenge_id',
  );

  // Ten copies of one valid assertion at once: one session.
  const raced = await passkeyOptions(ctx);
  const assertion = user.authenticator.assert(raced.options as never);
  const results = await Promise.all(
    Array.from({ length: 10 }, () => signIn(ctx, { challenge_id: raced.challenge_id, response: assertion })),
  );
  t.equal(results.filter((r) => r.statusCode === 200).length, 1, 'exactly one session');
});

t.test('copies of one assertion from a counterless passkey, sent at once through Redis: one session', async (t) => {
  // A synced passkey keeps no counter (always 0), so only the challenge being taken once stops the copies.
  const ctx = await webauthnApp(t, { kv: 'redis' });
  const synced = await userWithKey(ctx, syncedPasskeyProvider(), { passkey: true });
  for (let round = 0; round < 3; round++) {
    const race = await passkeyOptions(ctx);
    const copy = synced.authenticator.assert(race.options as never);
    const results = await Promise.all(Array.from({ length: 10 }, () => signIn(ctx, { challenge_id: race.challenge_id, response: copy })));
    t.equal(results.filter((r) => r.statusCode === 200).length, 1, `round ${round + 1}: exactly one session`);
  }
});

t.test('a passkey whose counter goes back is refused and audited as a clone', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKey(ctx, platformAuthenticator(), { passkey: true });
  const clone = user.authenticator.clone();
  for (let i = 0; i < 2; i++) {
    const { challenge_id, options } = await passkeyOptions(ctx);
    t.equal((await signIn(ctx, { challenge_id, response: user.authenticator.assert(options as never) })).statusCode, 200);
  }
  const { challenge_id, options } = await passkeyOptions(ctx);
  assertProblem(t, await signIn(ctx, { challenge_id, response: clone.assert(options as never) }), 401, 'PASSKEY_INVALID');
  const [event] = await auditEvents(ctx, 'mfa.webauthn_clone_detected');
  t.match(event, { actor_id: user.id, target_id: user.factorId, data: { stored_counter: 2, received_counter: 1 } });
  const failures = await auditEvents(ctx, 'mfa.verification_failed');
  t.match(failures.at(-1), { actor_id: user.id, data: { method: 'passkey', reason: 'counter_not_increased' } });
});

t.test('a removed passkey no longer signs in', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKey(ctx, platformAuthenticator(), { passkey: true });
  await ctx.db.deleteFrom('mfa_factors').where('id', '=', user.factorId).execute();
  const { challenge_id, options } = await passkeyOptions(ctx);
  assertProblem(t, await signIn(ctx, { challenge_id, response: user.authenticator.assert(options as never) }), 401, 'PASSKEY_INVALID');
});

t.test("failed passkey logins are audited, not counted: the owner's codes are neither paused nor locked", async (t) => {
  // Whoever knows a credential id and its user handle can fail passkey logins at will, with no
  // password: were those failures counted, they could keep the owner's codes paused or locked.
  const clock = manualClock();
  const ctx = await webauthnApp(t, { clock, env: { MFA_ACCOUNT_FREE_FAILURES: '3', MFA_ACCOUNT_LOCK_FAILURES: '4' } });
  const user = await userWithTotp(ctx, clock);
  const key = platformAuthenticator();
  t.equal((await register(ctx, user.auth, key, { passkey: true })).statusCode, 200);
  const bad = 12;
  for (let i = 0; i < bad; i++) {
    const { challenge_id, options } = await passkeyOptions(ctx);
    const res = await signIn(ctx, { challenge_id, response: key.assert(options as never, { tamper: 'signature' }) });
    assertProblem(t, res, 401, 'PASSKEY_INVALID', `bad passkey ${i + 1}`);
  }
  const failures = await auditEvents(ctx, 'mfa.verification_failed', bad);
  t.equal(
    failures.filter((f) => f.actor_id === user.id && f.data.method === 'passkey' && f.data.reason === 'bad_signature').length,
    bad,
    'every failure audited against the account',
  );

  // The budget is untouched: the whole window is left (two wrong codes are still checked), the
  // challenge is offered, and the right code signs in.
  const token = await mfaToken(ctx, user.email, user.password);
  for (const code of wrongCodes(user.secret, clock, 2)) {
    assertProblem(
      t,
      await post(ctx, '/v1/login/mfa', { mfa_token: token, method: 'totp', code }),
      401,
      'MFA_CODE_INVALID',
      'still checked',
    );
  }
  t.equal((await post(ctx, '/v1/login/mfa/webauthn/options', { mfa_token: token })).statusCode, 200, 'the challenge is offered');
  const right = await post(ctx, '/v1/login/mfa', { mfa_token: token, method: 'totp', code: nextCode(user.secret, clock, 30) });
  t.equal(right.statusCode, 200, `password and TOTP sign in: ${right.body}`);
  t.same(
    ctx.mail.sent.filter((m) => m.to === user.email && /locked/i.test(m.subject)),
    [],
    'no lock email',
  );
  t.equal((await ctx.db.selectFrom('audit_events').select('id').where('action', '=', 'mfa.locked').execute()).length, 0, 'no lock');

  // ...and the passkey, which cannot be guessed, still works for its owner.
  const { challenge_id, options } = await passkeyOptions(ctx);
  t.equal((await signIn(ctx, { challenge_id, response: key.assert(options as never) })).statusCode, 200);
});
