import { sql } from 'kysely';
import { createHash } from 'node:crypto';
import t from 'tap';
import { createKeyring } from '../../../src/infra/keyring.js';
import { hmac } from '../../../src/infra/random.js';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import { TEST_KEYS, buildTestApp, createVerifiedUser, login, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { eventually } from '../../helpers/eventually.js';
import { decode } from '../tokens/forge.js';
import {
  auditActions,
  manualClock,
  mfaToken,
  mfaTokens,
  secondStep,
  statusCounts,
  userWithTotp,
  userWithTotpAndEarlierSession,
  type Bearer,
} from './totp-support.js';

const clock = manualClock();
const ctx = await buildTestApp(t, { kv: 'redis', clock });
const BACKUP_SECRET = createKeyring(TEST_KEYS).deriveSecrets('tessera/backup-codes/v1')[0]!;

type User = Awaited<ReturnType<typeof userWithTotp>>;

const unusedHashes = async (c: TestApp, userId: string) =>
  (await c.db.selectFrom('mfa_backup_codes').select('code_hash').where('user_id', '=', userId).where('used_at', 'is', null).execute())
    .map((r) => r.code_hash.toString('hex'))
    .sort();
const mfaOf = async (auth: Bearer) => (await ctx.app.inject({ method: 'GET', url: '/v1/me/mfa', headers: auth })).json();
const bearer = (accessToken: string): Bearer => ({ authorization: `Bearer ${accessToken}` });
const regenerate = (c: TestApp, auth: Bearer) => c.app.inject({ method: 'POST', url: '/v1/me/mfa/backup-codes', headers: auth });

/** A fresh aal2 login with the authenticator app (what step-up asks for). */
async function freshAal2(user: User, c: TestApp = ctx): Promise<Bearer> {
  clock.advance(30);
  const res = await secondStep(c, await mfaToken(c, user), 'totp', totpCode(user.secret, clock.nowSeconds()));
  if (res.statusCode !== 200) throw new Error(`aal2 login failed: ${res.body}`);
  return bearer(res.json().access_token);
}

t.test('a backup code completes a login at aal2, and the profile says how many remain', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const res = await secondStep(ctx, await mfaToken(ctx, user), 'backup_code', user.backupCodes[3]!);
  t.equal(res.statusCode, 200, res.body);
  const { claims } = decode(res.json().access_token);
  t.equal(claims.aal, 2, 'aal 2');
  t.same(claims.amr, ['pwd', 'otp'], 'amr: password and a one-time code');
  const auth = bearer(res.json().access_token);
  const me = (await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: auth })).json();
  t.equal(me.mfa.backup_codes_remaining, 9, 'GET /v1/me: nine left');
  t.equal((await mfaOf(auth)).backup_codes_remaining, 9, 'GET /v1/me/mfa: nine left');
  const used = await ctx.db
    .selectFrom('mfa_backup_codes')
    .select('used_at')
    .where('user_id', '=', user.id)
    .where('used_at', 'is not', null)
    .execute();
  t.equal(used.length, 1, 'one spent');
  const verified = await eventually(() =>
    ctx.db
      .selectFrom('audit_events')
      .select('data')
      .where('actor_id', '=', user.id)
      .where('action', '=', 'session.login')
      .where(sql`data->>'method'`, '=', 'backup_code')
      .executeTakeFirst(),
  );
  t.match(verified.data, { method: 'backup_code', aal: 2, backup_codes_remaining: 9 }, 'the login is audited with the count, not the code');
  t.notOk(JSON.stringify(verified.data).includes(user.backupCodes[3]!));
});

t.test('the same backup code twice: the second is refused', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const code = user.backupCodes[0]!;
  t.equal((await secondStep(ctx, await mfaToken(ctx, user), 'backup_code', code)).statusCode, 200, 'first use');
  const again = await secondStep(ctx, await mfaToken(ctx, user), 'backup_code', code);
  assertProblem(t, again, 401, 'MFA_CODE_INVALID', 'second use');
  t.equal(again.json().attempts_remaining, 4);
  t.equal((await unusedHashes(ctx, user.id)).length, 9, 'still nine');
});

t.test('the same backup code on 10 mfa_tokens at once: exactly one login', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const tokens = await mfaTokens(10, () => mfaToken(ctx, user));
  const answers = await Promise.all(tokens.map((token) => secondStep(ctx, token, 'backup_code', user.backupCodes[5]!)));
  t.same(statusCounts(answers), { 200: 1, 401: 9 }, answers.map((a) => a.body.slice(0, 100)).join('\n'));
  t.equal((await unusedHashes(ctx, user.id)).length, 9, 'one code spent');
  // Besides the session that confirmed the app (aal2 since), the logins opened one aal2 session.
  const sessions = await ctx.db
    .selectFrom('sessions')
    .select('id')
    .where('user_id', '=', user.id)
    .where('aal', '=', 2)
    .where('id', '<>', user.tokens.session_id)
    .execute();
  t.equal(sessions.length, 1, 'one aal2 session from the logins');
});

t.test('codes are stored as HMACs under a keyring-derived key, never in clear', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const rows = await ctx.db.selectFrom('mfa_backup_codes').selectAll().where('user_id', '=', user.id).execute();
  t.equal(rows.length, 10);
  const stored = rows.map((r) => r.code_hash.toString('hex')).sort();
  const expected = user.backupCodes.map((c) => hmac(BACKUP_SECRET, `${user.id}:${c.replace('-', '')}`).toString('hex')).sort();
  t.same(stored, expected, 'each row is HMAC-SHA256(derived key, user id : code)');
  const dump = JSON.stringify(rows.map((r) => ({ ...r, code_hash: r.code_hash.toString('latin1') })));
  for (const code of user.backupCodes) {
    const plain = code.replace('-', '');
    t.notOk(dump.includes(plain) || dump.includes(code), 'no code in clear');
    t.notOk(stored.includes(createHash('sha256').update(plain).digest('hex')), 'not a bare (unkeyed) hash');
  }
  const logs = ctx.logs.join('');
  t.notOk(
    user.backupCodes.some((c) => logs.includes(c) || logs.includes(c.replace('-', ''))),
    'no code in the logs',
  );
});

t.test('how the code is typed does not matter: case, spaces, hyphen', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const [a, b, c, d, e] = user.backupCodes as [string, string, string, string, string];
  const plain = (s: string) => s.replace('-', '');
  const typed = [
    a.toUpperCase(),
    plain(b),
    `${plain(c).slice(0, 5)} ${plain(c).slice(5)}`,
    ` ${d.slice(0, 3).toUpperCase()} ${d.slice(3)} `,
    `${plain(e).slice(0, 2)}-${plain(e).slice(2, 7).toUpperCase()}-${plain(e).slice(7)}`,
  ];
  for (const code of typed) {
    t.equal((await secondStep(ctx, await mfaToken(ctx, user), 'backup_code', code)).statusCode, 200, `"${code}"`);
  }
  t.equal((await unusedHashes(ctx, user.id)).length, 5);
  // Garbage is a wrong code, not an error.
  const token = await mfaToken(ctx, user);
  for (const bad of ['x'.repeat(32), 'abcde-fghjk', '0000000000', '!!!!!-?????', user.backupCodes[5]!.slice(0, 10)]) {
    assertProblem(t, await secondStep(ctx, token, 'backup_code', bad), 401, 'MFA_CODE_INVALID', `"${bad}"`);
  }
});

t.test('regenerating needs step-up, makes a new set and voids the old one', async (t) => {
  const user = await userWithTotpAndEarlierSession(ctx, clock);
  const before = await unusedHashes(ctx, user.id);

  // A password session from before the app was turned on is aal1: not enough, however recent.
  const refused = await regenerate(ctx, user.earlier.auth);
  const problem = assertProblem(t, refused, 403, 'REAUTHENTICATION_REQUIRED', 'an aal1 session');
  t.equal(problem.required_aal, 2);
  t.same(await unusedHashes(ctx, user.id), before, 'the codes are unchanged');

  // An aal2 login more than five minutes old is not fresh either.
  const aged = await freshAal2(user);
  clock.advance(301);
  assertProblem(t, await regenerate(ctx, aged), 403, 'REAUTHENTICATION_REQUIRED', 'aal2 but older than five minutes');
  t.same(await unusedHashes(ctx, user.id), before, 'still unchanged');

  const fresh = await freshAal2(user);
  const res = await regenerate(ctx, fresh);
  t.equal(res.statusCode, 200, res.body);
  t.equal(res.headers['cache-control'], 'no-store');
  const body = res.json();
  t.equal(body.backup_codes.length, 10);
  t.equal(body.remaining, 10);
  t.equal(body.backup_codes.filter((c: string) => user.backupCodes.includes(c)).length, 0, 'all new');
  const after = await unusedHashes(ctx, user.id);
  t.equal(after.length, 10, 'ten in the database, not twenty');
  t.equal(after.filter((h) => before.includes(h)).length, 0, 'none of the old hashes left');

  assertProblem(
    t,
    await secondStep(ctx, await mfaToken(ctx, user), 'backup_code', user.backupCodes[0]!),
    401,
    'MFA_CODE_INVALID',
    'an old code',
  );
  t.equal((await secondStep(ctx, await mfaToken(ctx, user), 'backup_code', body.backup_codes[0])).statusCode, 200, 'a new code');
  await eventually(() => ctx.mail.sent.find((m) => m.to === user.email && m.subject === 'New backup codes were made for your account'), {
    message: 'regeneration email',
  });
  const actions = await eventually(async () => {
    const a = await auditActions(ctx, user.id);
    return a.filter((x) => x === 'mfa.backup_codes_generated').length === 2 && a;
  });
  t.ok(actions, 'generated at enrolment and again now, both audited');
});

t.test('regenerations at once leave exactly one set in force', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const fresh = await freshAal2(user);
  const answers = await Promise.all(Array.from({ length: 5 }, () => regenerate(ctx, fresh)));
  t.same(statusCounts(answers), { 200: 5 });
  t.equal((await unusedHashes(ctx, user.id)).length, 10, 'ten codes in force, not fifty');
  const sets = answers.map((a) => a.json().backup_codes as string[]);
  const working = [];
  for (const set of sets) {
    const res = await secondStep(ctx, await mfaToken(ctx, user), 'backup_code', set[0]!);
    if (res.statusCode === 200) working.push(set);
  }
  t.equal(working.length, 1, 'the codes of exactly one answer work');
});

t.test('regenerating without any factor: 400 MFA_METHOD_UNAVAILABLE, nothing written', async (t) => {
  const plain = await createVerifiedUser(ctx);
  const session = bearer((await login(ctx, plain.email, plain.password)).body.access_token);
  assertProblem(t, await regenerate(ctx, session), 400, 'MFA_METHOD_UNAVAILABLE', 'a fresh password login, but no factor');
  const id = (await ctx.db.selectFrom('users').select('id').where('email', '=', plain.email).executeTakeFirstOrThrow()).id;
  t.equal((await unusedHashes(ctx, id)).length, 0, 'no codes');
  assertProblem(t, await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/backup-codes' }), 401, 'AUTHENTICATION_REQUIRED', 'no token');
});

t.test('regenerate: bad input is refused before anything is written', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const fresh = await freshAal2(user);
  const before = await unusedHashes(ctx, user.id);
  const send = (payload: string) =>
    ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/backup-codes', headers: { ...fresh, 'content-type': 'application/json' }, payload });
  assertProblem(t, await send('{"x'), 400, 'MALFORMED_BODY', 'malformed JSON');
  assertProblem(t, await send('{"count": 50}'), 400, 'VALIDATION_FAILED', 'an unknown field');
  assertProblem(t, await send('[]'), 400, 'VALIDATION_FAILED', 'an array');
  t.same(await unusedHashes(ctx, user.id), before, 'the codes are unchanged');
  const ok = await send('{}');
  t.equal(ok.statusCode, 200, `an empty object is fine (${ok.body.slice(0, 80)})`);
});

t.test('when the last factor goes, the codes go, and backup_code is no longer a login method', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const fresh = await freshAal2(user);
  t.equal((await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/totp', headers: fresh })).statusCode, 204);
  t.equal((await unusedHashes(ctx, user.id)).length, 0, 'no backup codes left');
  const first = await login(ctx, user.email, user.password);
  t.equal(first.body.status, 'authenticated', 'the password alone logs in');
  t.same((await mfaOf(fresh)).methods, [], 'no methods');
});

t.test('while another factor remains, removing the app keeps the codes', async (t) => {
  const user = await userWithTotp(ctx, clock);
  // A confirmed security key, written directly (WebAuthn registration is tested elsewhere).
  await ctx.db
    .insertInto('mfa_factors')
    .values({
      id: crypto.randomUUID(),
      user_id: user.id,
      kind: 'webauthn',
      name: 'Key',
      credential_id: Buffer.from(crypto.randomUUID()),
      public_key: Buffer.alloc(65, 4),
      sign_count: 0,
      confirmed_at: new Date(),
    })
    .execute();
  const fresh = await freshAal2(user);
  t.equal((await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/totp', headers: fresh })).statusCode, 204);
  t.equal((await unusedHashes(ctx, user.id)).length, 10, 'the codes stay');
  const first = await login(ctx, user.email, user.password);
  t.same(first.body.methods, ['webauthn', 'backup_code'], 'backup_code is still offered');
  t.equal((await secondStep(ctx, first.body.mfa_token, 'backup_code', user.backupCodes[0]!)).statusCode, 200, 'and works');
});

t.test('when every code is spent, backup_code is no longer offered', async (t) => {
  const user = await userWithTotp(ctx, clock);
  for (const code of user.backupCodes) {
    t.equal((await secondStep(ctx, await mfaToken(ctx, user), 'backup_code', code)).statusCode, 200);
  }
  const next = await login(ctx, user.email, user.password);
  t.same(next.body.methods, ['totp'], 'only the app');
  assertProblem(t, await secondStep(ctx, next.body.mfa_token, 'backup_code', user.backupCodes[0]!), 400, 'MFA_METHOD_UNAVAILABLE');
});

t.test('after a keyring rotation, the codes made under the old key still work once', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const newKey = `next:${Buffer.alloc(32, 9).toString('base64')}`;
  const rotated = await buildTestApp(t, {
    kv: ctx.kv,
    clock,
    shareDb: { db: ctx.db, url: ctx.dbUrl },
    env: { TESSERA_ENCRYPTION_KEYS: `${newKey},${TEST_KEYS}` },
  });
  t.equal((await secondStep(rotated, await mfaToken(rotated, user), 'backup_code', user.backupCodes[0]!)).statusCode, 200, 'an old code');
  assertProblem(
    t,
    await secondStep(rotated, await mfaToken(rotated, user), 'backup_code', user.backupCodes[0]!),
    401,
    'MFA_CODE_INVALID',
    'once',
  );
  // A new set is hashed under the new key.
  const fresh = await freshAal2(user, rotated);
  const codes = (await regenerate(rotated, fresh)).json().backup_codes as string[];
  const newSecret = createKeyring(`${newKey},${TEST_KEYS}`).deriveSecrets('tessera/backup-codes/v1')[0]!;
  t.same(
    await unusedHashes(rotated, user.id),
    codes.map((c) => hmac(newSecret, `${user.id}:${c.replace('-', '')}`).toString('hex')).sort(),
    'regenerated under the new key',
  );
});
