/**
 * Registering security keys and passkeys: the options Tessera hands the browser, what a
 * registration stores, and every way a registration response is refused without a write.
 */
import t from 'tap';
import { loggedInUser, type TestApp } from '../../helpers/app.js';
import { eventually } from '../../helpers/eventually.js';
import { assertProblem } from '../../helpers/problem.js';
import {
  auditEvents,
  countRows,
  platformAuthenticator,
  post,
  register,
  registrationOptions,
  RP_ID,
  securityKey,
  syncedPasskeyProvider,
  userIdOf,
  webauthnApp,
  type Bearer,
} from './webauthn-support.js';
import { manualClock } from './totp-support.js';

type Options = {
  challenge: string;
  rp: { id: string; name: string };
  user: { id: string; name: string; displayName: string };
  attestation: string;
  timeout: number;
  excludeCredentials: Array<{ id: string; transports?: string[] }>;
  authenticatorSelection: { residentKey: string; requireResidentKey: boolean; userVerification: string };
  pubKeyCredParams: Array<{ alg: number; type: string }>;
  extensions: Record<string, unknown>;
};

const webauthnRows = (ctx: TestApp) => ctx.db.selectFrom('mfa_factors').selectAll().where('kind', '=', 'webauthn').execute();

t.test('registration options: RP, opaque user handle, attestation none, a fresh 256-bit challenge each time', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await loggedInUser(ctx);
  const userId = await userIdOf(ctx, user.email);

  const key = (await registrationOptions(ctx, user.auth)) as unknown as Options;
  t.same(key.rp, { id: RP_ID, name: 'Tessera Test' }, 'the RP ID is the frontend host; the name is WEBAUTHN_RP_NAME');
  t.equal(key.user.name, user.email, 'the user name is the email (what the authenticator shows)');
  t.equal(
    Buffer.from(key.user.id, 'base64url').toString('hex'),
    userId.replace(/-/g, ''),
    'the user handle is the 16 bytes of the user id',
  );
  // (Random bytes may well include 0x40, so the check is for the address, not for an "@".)
  t.notOk(Buffer.from(key.user.id, 'base64url').toString('utf8').includes(user.email), 'no email in the user handle');
  t.equal(key.attestation, 'none');
  t.equal(key.timeout, 300_000, 'five minutes, the life of the challenge');
  t.equal(Buffer.from(key.challenge, 'base64url').length, 32, '256 random bits');
  t.same(key.excludeCredentials, [], 'nothing to exclude yet');
  t.match(key.authenticatorSelection, { residentKey: 'discouraged', requireResidentKey: false, userVerification: 'preferred' });
  t.ok(
    key.pubKeyCredParams.some((p) => p.alg === -7),
    'ES256 offered',
  );
  t.match(key.extensions, { credProps: true });

  const passkey = (await registrationOptions(ctx, user.auth, { passkey: true })) as unknown as Options;
  t.match(passkey.authenticatorSelection, { residentKey: 'required', requireResidentKey: true, userVerification: 'required' });
  t.not(passkey.challenge, key.challenge, 'a new challenge per request');
  t.equal((await countRows(ctx)).factors, 0, 'asking for options writes no factor');

  const res = await post(ctx, '/v1/me/webauthn/registration/options', undefined, user.auth);
  t.equal(res.statusCode, 200, 'the body may be left out');
});

t.test('registering a security key: stored row, backup codes with the first factor, audit and email', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await loggedInUser(ctx);
  const key = securityKey();
  const res = await register(ctx, user.auth, key, { name: '  YubiKey 5C  ' });
  t.equal(res.statusCode, 200, res.body);
  t.equal(res.headers['cache-control'], 'no-store');
  const body = res.json();
  t.equal(body.status, 'enabled');
  t.equal(body.backup_codes.length, 10, 'ten backup codes with the first factor');
  t.match(body.credential, {
    id: body.factor_id,
    name: 'YubiKey 5C',
    passkey: false,
    device_type: 'singleDevice',
    backed_up: false,
    transports: ['usb'],
    created_at: String,
    last_used_at: String,
  });
  t.notOk('public_key' in body.credential || 'credential_id' in body.credential, 'no key material in the answer');

  const [row] = await webauthnRows(ctx);
  t.equal(row!.user_id, await userIdOf(ctx, user.email));
  t.same(row!.credential_id, key.credentials[0]!.id, 'the credential id');
  t.ok(row!.public_key && row!.public_key.length > 60, 'the COSE public key');
  t.equal(row!.sign_count, '0');
  t.equal(row!.passkey, false);
  t.equal(row!.aaguid, '00000000-0000-0000-0000-000000000000');
  t.ok(row!.confirmed_at, 'confirmed');

  const [enabled] = await auditEvents(ctx, 'mfa.factor_enabled');
  t.match(enabled, { target_id: body.factor_id, data: { kind: 'webauthn' } });
  await eventually(() => ctx.mail.sent.find((m) => m.to === user.email && m.subject.includes('sign-in method was added')), {
    message: 'the owner is told',
  });

  const me = await ctx.app.inject({ method: 'GET', url: '/v1/me/mfa', headers: user.auth });
  t.match(me.json(), { enabled: true, methods: ['webauthn', 'backup_code'], backup_codes_remaining: 10 });
  t.match(me.json().factors, [{ id: body.factor_id, kind: 'webauthn', name: 'YubiKey 5C', passkey: false }]);
});

t.test('a second key: the first is excluded, the same authenticator cannot register twice, no new backup codes', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await loggedInUser(ctx);
  const first = securityKey();
  t.equal((await register(ctx, user.auth, first)).statusCode, 200);

  const options = (await registrationOptions(ctx, user.auth)) as unknown as Options;
  t.same(
    options.excludeCredentials.map((c) => c.id),
    [first.credentials[0]!.id.toString('base64url')],
    'excludeCredentials lists the registered key',
  );
  t.same(options.excludeCredentials[0]!.transports, ['usb']);
  t.throws(() => first.register(options as never), { name: 'InvalidStateError' }, 'the authenticator refuses, as the browser would');

  const second = await register(ctx, user.auth, platformAuthenticator(), { passkey: true, name: 'Laptop' });
  t.equal(second.statusCode, 200, second.body);
  t.equal(second.json().backup_codes, null, 'backup codes come with the first factor only');
  t.match(second.json().credential, { name: 'Laptop', passkey: true, transports: ['internal'] });
  t.equal((await webauthnRows(ctx)).length, 2);
});

t.test('passkeys: user verification and a discoverable credential required; a synced one is multiDevice', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await loggedInUser(ctx);

  // A key that cannot verify the user (UV flag clear) is refused for a passkey.
  const noUv = await register(ctx, user.auth, securityKey(), { passkey: true });
  assertProblem(t, noUv, 400, 'WEBAUTHN_REGISTRATION_INVALID', 'no user verification');
  t.match(noUv.json().detail, /User verification/);

  // An authenticator that says (credProps) it kept no discoverable credential cannot be a passkey.
  const options = await registrationOptions(ctx, user.auth, { passkey: true });
  const notResident = platformAuthenticator().register(options as never, { discoverable: false });
  const res = await post(ctx, '/v1/me/webauthn/registration', { response: notResident }, user.auth);
  assertProblem(t, res, 400, 'WEBAUTHN_REGISTRATION_INVALID', 'rk false');
  t.equal((await countRows(ctx)).factors, 0, 'nothing stored');

  const synced = await register(ctx, user.auth, syncedPasskeyProvider(), { passkey: true });
  t.equal(synced.statusCode, 200, synced.body);
  t.match(synced.json().credential, { name: 'Passkey', passkey: true, device_type: 'multiDevice', backed_up: true });
  const [row] = await webauthnRows(ctx);
  t.match(row, { passkey: true, device_type: 'multiDevice', backed_up: true });
});

t.test('refused registrations write nothing: wrong origin, wrong RP ID, wrong type, no user presence, wrong challenge', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await loggedInUser(ctx);
  const cases: Array<[string, Parameters<ReturnType<typeof securityKey>['register']>[1], RegExp]> = [
    ['an origin not in WEBAUTHN_ORIGINS', { origin: 'https://evil.example' }, /origin/],
    ['a look-alike origin on the RP ID', { origin: `http://${RP_ID}` }, /origin/],
    ['another RP ID', { rpId: 'evil.example' }, /RP ID/],
    ['a parent domain as RP ID', { rpId: 'example.test' }, /RP ID/],
    ['an assertion type', { type: 'webauthn.get' }, /type/],
    ['no user presence', { flags: { up: false } }, /presence/i],
    ['a challenge of its own', { challenge: Buffer.alloc(32, 1).toString('base64url') }, /challenge/],
  ];
  for (const [label, overrides, detail] of cases) {
    const options = await registrationOptions(ctx, user.auth);
    const response = securityKey().register(options as never, overrides);
    const res = await post(ctx, '/v1/me/webauthn/registration', { response }, user.auth);
    const problem = assertProblem(t, res, 400, 'WEBAUTHN_REGISTRATION_INVALID', label);
    t.match(problem.detail, detail, `${label}: the detail names the check`);
  }
  t.same(await countRows(ctx), { factors: 0, sessions: 1 }, 'no factor written');
  t.equal((await ctx.db.selectFrom('mfa_backup_codes').selectAll().execute()).length, 0, 'no backup codes');
});

t.test('a challenge answers once: replay, no options, options replaced, expired', async (t) => {
  const clock = manualClock();
  const ctx = await webauthnApp(t, { clock });
  const user = await loggedInUser(ctx);

  const none = await post(ctx, '/v1/me/webauthn/registration', { response: securityKey().register(fakeOptions()) }, user.auth);
  assertProblem(t, none, 409, 'FACTOR_NOT_PENDING', 'without options');

  const options = await registrationOptions(ctx, user.auth);
  const response = securityKey().register(options as never);
  t.equal((await post(ctx, '/v1/me/webauthn/registration', { response }, user.auth)).statusCode, 200);
  const replay = await post(ctx, '/v1/me/webauthn/registration', { response }, user.auth);
  assertProblem(t, replay, 409, 'FACTOR_NOT_PENDING', 'the same response again');

  // Options asked again replace the old challenge: an answer to the old one is refused.
  const old = await registrationOptions(ctx, user.auth);
  await registrationOptions(ctx, user.auth);
  const stale = await post(ctx, '/v1/me/webauthn/registration', { response: securityKey().register(old as never) }, user.auth);
  assertProblem(t, stale, 400, 'WEBAUTHN_REGISTRATION_INVALID', 'an answer to replaced options');

  const late = await registrationOptions(ctx, user.auth);
  clock.advance(301);
  const expired = await post(ctx, '/v1/me/webauthn/registration', { response: securityKey().register(late as never) }, user.auth);
  assertProblem(t, expired, 409, 'FACTOR_NOT_PENDING', 'after five minutes');
  t.equal((await webauthnRows(ctx)).length, 1, 'only the first registration stored');
});

t.test('two answers to one challenge sent at once: exactly one registers', async (t) => {
  const ctx = await webauthnApp(t, { kv: 'redis' });
  const user = await loggedInUser(ctx);
  const options = await registrationOptions(ctx, user.auth);
  const responses = Array.from({ length: 8 }, () => securityKey().register(options as never));
  const results = await Promise.all(responses.map((response) => post(ctx, '/v1/me/webauthn/registration', { response }, user.auth)));
  t.equal(results.filter((r) => r.statusCode === 200).length, 1, 'one registered');
  t.ok(
    results.filter((r) => r.statusCode !== 200).every((r) => r.json().code === 'FACTOR_NOT_PENDING'),
    'the rest found no registration in progress',
  );
  t.equal((await webauthnRows(ctx)).length, 1);
});

t.test("a credential id another account holds is refused (no taking over someone's key)", async (t) => {
  const ctx = await webauthnApp(t);
  const alice = await loggedInUser(ctx);
  const aliceKey = securityKey();
  t.equal((await register(ctx, alice.auth, aliceKey)).statusCode, 200);
  const [aliceRow] = await webauthnRows(ctx);

  const mallory = await loggedInUser(ctx);
  const options = await registrationOptions(ctx, mallory.auth);
  const response = securityKey().register(options as never, { credentialId: aliceKey.credentials[0]!.id });
  const res = await post(ctx, '/v1/me/webauthn/registration', { response }, mallory.auth);
  assertProblem(t, res, 409, 'FACTOR_ALREADY_ENROLLED');
  const rows = await webauthnRows(ctx);
  t.equal(rows.length, 1, 'no second row');
  t.same(rows[0]!.public_key, aliceRow!.public_key, "Alice's public key is untouched");
  t.equal(rows[0]!.user_id, aliceRow!.user_id);
});

t.test('at most 25 credentials per account', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await loggedInUser(ctx);
  for (let i = 0; i < 25; i++) t.equal((await register(ctx, user.auth, securityKey())).statusCode, 200, `key ${i + 1}`);
  const res = await post(ctx, '/v1/me/webauthn/registration/options', {}, user.auth);
  assertProblem(t, res, 409, 'WEBAUTHN_CREDENTIAL_LIMIT');
  t.equal((await webauthnRows(ctx)).length, 25);
});

t.test('revoke_other_sessions signs out the other sessions, not this one', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await loggedInUser(ctx);
  const other = await ctx.app.inject({ method: 'POST', url: '/v1/login', payload: { email: user.email, password: user.password } });
  const otherAuth: Bearer = { authorization: `Bearer ${other.json().access_token}` };
  const options = await registrationOptions(ctx, user.auth);
  const res = await post(
    ctx,
    '/v1/me/webauthn/registration',
    { response: securityKey().register(options as never), revoke_other_sessions: true },
    user.auth,
  );
  t.equal(res.statusCode, 200, res.body);
  t.equal((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: user.auth })).statusCode, 200, 'this session stays');
  t.equal((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: otherAuth })).statusCode, 401, 'the other is signed out');
});

/** Options Tessera never issued (for "no registration in progress"). */
function fakeOptions() {
  return {
    challenge: Buffer.alloc(32, 9).toString('base64url'),
    rp: { id: RP_ID, name: 'x' },
    user: { id: Buffer.alloc(16).toString('base64url') },
    authenticatorSelection: {},
  };
}
