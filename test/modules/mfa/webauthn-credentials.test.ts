/**
 * GET /v1/me/webauthn/credentials, PATCH and DELETE /v1/me/webauthn/credentials/{id}: a user
 * sees and manages their own keys and passkeys, and no one else's.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import type { TestApp } from '../../helpers/app.js';
import { eventually } from '../../helpers/eventually.js';
import { assertProblem } from '../../helpers/problem.js';
import {
  auditEvents,
  platformAuthenticator,
  post,
  register,
  securityKey,
  userWithKey,
  userWithKeyAndEarlierSession,
  webauthnApp,
  type Bearer,
} from './webauthn-support.js';

const list = (ctx: TestApp, auth: Bearer) => ctx.app.inject({ method: 'GET', url: '/v1/me/webauthn/credentials', headers: auth });
const rename = (ctx: TestApp, auth: Bearer, id: string, payload: unknown) =>
  ctx.app.inject({ method: 'PATCH', url: `/v1/me/webauthn/credentials/${id}`, headers: auth, payload: payload as object });
const remove = (ctx: TestApp, auth: Bearer, id: string) =>
  ctx.app.inject({ method: 'DELETE', url: `/v1/me/webauthn/credentials/${id}`, headers: auth });

/** An aal2 session for the user, through a key, so that step-up passes. */
async function freshAal2(ctx: TestApp, user: Awaited<ReturnType<typeof userWithKey>>): Promise<Bearer> {
  const options = (await post(ctx, '/v1/me/reauthenticate/challenge', { method: 'webauthn' }, user.auth)).json().options;
  const res = await post(ctx, '/v1/me/reauthenticate', { method: 'webauthn', response: user.authenticator.assert(options) }, user.auth);
  if (res.statusCode !== 200) throw new Error(`reauthentication failed: ${res.body}`);
  return user.auth;
}

t.test('the list shows name, kind, flags, transports and dates, never key material', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKey(ctx);
  t.equal(
    (await register(ctx, user.auth, platformAuthenticator({ backupEligible: true }), { passkey: true, name: 'Phone' })).statusCode,
    200,
  );
  const res = await list(ctx, user.auth);
  t.equal(res.statusCode, 200);
  const { credentials } = res.json();
  t.equal(credentials.length, 2);
  t.match(credentials[0], {
    id: user.factorId,
    name: 'Security key',
    passkey: false,
    device_type: 'singleDevice',
    backed_up: false,
    transports: ['usb'],
  });
  t.match(credentials[1], { name: 'Phone', passkey: true, device_type: 'multiDevice', backed_up: true, transports: ['internal'] });
  for (const c of credentials) {
    t.same(Object.keys(c).sort(), ['backed_up', 'created_at', 'device_type', 'id', 'last_used_at', 'name', 'passkey', 'transports']);
  }
  const stranger = await userWithKey(ctx);
  t.same(
    (await list(ctx, stranger.auth)).json().credentials.map((c: { id: string }) => c.id),
    [stranger.factorId],
    "only one's own",
  );
  t.equal((await ctx.app.inject({ method: 'GET', url: '/v1/me/webauthn/credentials' })).statusCode, 401, 'needs a session');
});

t.test('rename: trimmed, 1-64 characters, no control or direction characters; audited', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKey(ctx);
  const res = await rename(ctx, user.auth, user.factorId, { name: '  Keychain key  ' });
  t.equal(res.statusCode, 200, res.body);
  t.match(res.json(), { id: user.factorId, name: 'Keychain key' });
  const [event] = await auditEvents(ctx, 'mfa.factor_renamed');
  t.match(event, { actor_id: user.id, target_id: user.factorId, data: { kind: 'webauthn' } });

  for (const [label, name] of [
    ['empty', ''],
    ['blank', '   '],
    ['65 characters', 'x'.repeat(65)],
    ['a newline', 'a\nb'],
    ['a NUL', 'a\u0000b'],
    ['a right-to-left override', 'evil\u202Egnp.exe'],
    ['a number', 42],
  ] as const) {
    assertProblem(t, await rename(ctx, user.auth, user.factorId, { name }), 400, 'VALIDATION_FAILED', label);
  }
  assertProblem(t, await rename(ctx, user.auth, user.factorId, {}), 400, 'VALIDATION_FAILED', 'no name');
  assertProblem(t, await rename(ctx, user.auth, user.factorId, { name: 'ok', passkey: true }), 400, 'VALIDATION_FAILED', 'an extra field');
  const row = await ctx.db.selectFrom('mfa_factors').select(['name', 'passkey']).where('id', '=', user.factorId).executeTakeFirstOrThrow();
  t.same(row, { name: 'Keychain key', passkey: false }, 'nothing changed by the refused renames');
});

t.test("another account's credential, a TOTP factor or an unknown id: 404, untouched", async (t) => {
  const ctx = await webauthnApp(t);
  const alice = await userWithKey(ctx);
  const mallory = await userWithKey(ctx, securityKey());
  const malloryAuth = await freshAal2(ctx, mallory);

  assertProblem(t, await rename(ctx, malloryAuth, alice.factorId, { name: 'mine now' }), 404, 'FACTOR_NOT_FOUND', 'rename');
  assertProblem(t, await remove(ctx, malloryAuth, alice.factorId), 404, 'FACTOR_NOT_FOUND', 'remove');
  assertProblem(t, await remove(ctx, malloryAuth, randomUUID()), 404, 'FACTOR_NOT_FOUND', 'an unknown id');
  const row = await ctx.db.selectFrom('mfa_factors').selectAll().where('id', '=', alice.factorId).executeTakeFirstOrThrow();
  t.equal(row.name, 'Security key', "Alice's key is untouched");

  // A factor of another kind is not a credential, even the caller's own.
  const totpId = randomUUID();
  await ctx.db
    .insertInto('mfa_factors')
    .values({ id: totpId, user_id: mallory.id, kind: 'totp', name: 'Authenticator app', confirmed_at: new Date() })
    .execute();
  assertProblem(t, await rename(ctx, malloryAuth, totpId, { name: 'x' }), 404, 'FACTOR_NOT_FOUND', 'a TOTP factor renamed here');
  assertProblem(t, await remove(ctx, malloryAuth, totpId), 404, 'FACTOR_NOT_FOUND', 'a TOTP factor removed here');
  t.ok(await ctx.db.selectFrom('mfa_factors').select('id').where('id', '=', totpId).executeTakeFirst(), 'the TOTP factor stays');
  assertProblem(t, await remove(ctx, malloryAuth, 'not-a-uuid'), 400, 'VALIDATION_FAILED', 'a malformed id');
});

t.test('remove: step-up required; one key of two goes, the backup codes stay, the owner is told', async (t) => {
  const ctx = await webauthnApp(t);
  const user = await userWithKeyAndEarlierSession(ctx);
  // The session that registered the first key is fresh at aal2 from it: it may add a second.
  const second = await register(ctx, user.auth, securityKey(), { name: 'Spare' });
  const spareId = second.json().factor_id as string;

  // A password session from before the first key is aal1: it removes nothing until it steps up.
  const { earlier } = user;
  assertProblem(t, await remove(ctx, earlier.auth, spareId), 403, 'REAUTHENTICATION_REQUIRED', 'an aal1 session');
  t.equal((await list(ctx, earlier.auth)).json().credentials.length, 2, 'nothing removed without step-up');

  const auth = await freshAal2(ctx, { ...user, auth: earlier.auth });
  const res = await remove(ctx, auth, spareId);
  t.equal(res.statusCode, 204, res.body);
  t.same(
    (await list(ctx, auth)).json().credentials.map((c: { id: string }) => c.id),
    [user.factorId],
  );
  t.equal((await ctx.db.selectFrom('mfa_backup_codes').selectAll().execute()).length, 10, 'backup codes kept while a factor is on');
  const [event] = await auditEvents(ctx, 'mfa.factor_removed');
  t.match(event, { actor_id: user.id, target_id: spareId, data: { kind: 'webauthn' } });
  await eventually(() => ctx.mail.sent.find((m) => m.to === user.email && m.subject.includes('was removed')), {
    message: 'the owner is told',
  });
  assertProblem(t, await remove(ctx, auth, spareId), 404, 'FACTOR_NOT_FOUND', 'removing it twice');
});
