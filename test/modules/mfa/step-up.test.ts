import t, { type Test } from 'tap';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildTestApp, loggedInUser, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { decode, refresh } from '../tokens/forge.js';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import {
  aal2Login,
  auditOf,
  bearer,
  firstStep,
  manualClock,
  nextTotp,
  reauthenticate,
  secondStep,
  userIdOf,
  userWithTotp,
  userWithTotpAndEarlierSession,
  type Bearer,
} from './flow-support.js';

const clock = manualClock();
// A small account budget, so that "counted in the budget" shows within a few tries.
const ctx = await buildTestApp(t, { kv: 'memory', clock, env: { MFA_ACCOUNT_FREE_FAILURES: '3' } });
const WITH_FACTOR = { required_aal: 2, methods: ['totp', 'backup_code'] };

/** The three step-up routes, as a client calls them. */
const stepUpRoutes = (password: string) =>
  [
    ['DELETE /v1/me', { method: 'DELETE', url: '/v1/me', payload: { password } }],
    ['DELETE /v1/me/mfa/totp', { method: 'DELETE', url: '/v1/me/mfa/totp' }],
    ['POST /v1/me/mfa/backup-codes', { method: 'POST', url: '/v1/me/mfa/backup-codes' }],
  ] as const;

async function call(ctx: TestApp, auth: Bearer, request: { method: 'DELETE' | 'POST'; url: string; payload?: object }) {
  return ctx.app.inject({ ...request, headers: auth } as InjectOptions);
}

/** Every step-up route answers 403 REAUTHENTICATION_REQUIRED with what it takes, and changes nothing. */
async function allRefused(t: Test, auth: Bearer, user: { id: string; password: string }, expected: object, label: string) {
  const factorsBefore = await ctx.db.selectFrom('mfa_factors').select(['id', 'confirmed_at']).where('user_id', '=', user.id).execute();
  const codesBefore = await ctx.db
    .selectFrom('mfa_backup_codes')
    .select('code_hash')
    .where('user_id', '=', user.id)
    .orderBy('code_hash')
    .execute();
  for (const [name, request] of stepUpRoutes(user.password)) {
    const res: LightMyRequestResponse = await call(ctx, auth, request);
    const body = assertProblem(t, res, 403, 'REAUTHENTICATION_REQUIRED', `${label}: ${name}`);
    t.match(body, expected, `${label}: ${name} says what it takes`);
  }
  t.ok(await ctx.db.selectFrom('users').select('id').where('id', '=', user.id).executeTakeFirst(), `${label}: the account is still there`);
  t.same(
    await ctx.db.selectFrom('mfa_factors').select(['id', 'confirmed_at']).where('user_id', '=', user.id).execute(),
    factorsBefore,
    `${label}: the factors are unchanged`,
  );
  t.same(
    await ctx.db.selectFrom('mfa_backup_codes').select('code_hash').where('user_id', '=', user.id).orderBy('code_hash').execute(),
    codesBefore,
    `${label}: the backup codes are unchanged`,
  );
}

t.test('without a factor: the password login counts for five minutes, then the password again', async (t) => {
  const user = await loggedInUser(ctx);
  const id = await userIdOf(ctx, user.email);
  // Within five minutes of the login the guard lets the request through to the route's own answer.
  clock.advance(299);
  const regenerate = await call(ctx, user.auth, { method: 'POST', url: '/v1/me/mfa/backup-codes' });
  assertProblem(t, regenerate, 400, 'MFA_METHOD_UNAVAILABLE', 'fresh: backup codes need a factor first');
  const removeTotp = await call(ctx, user.auth, { method: 'DELETE', url: '/v1/me/mfa/totp' });
  assertProblem(t, removeTotp, 404, 'FACTOR_NOT_FOUND', 'fresh: no app to remove');

  clock.advance(2);
  await allRefused(t, user.auth, { id, password: user.password }, { required_aal: 1, methods: ['password'] }, 'after 5 min 1 s');

  const wrong = await reauthenticate(ctx, user.auth, { password: 'not-the-password-1' });
  // 403 (the accounts catalogue's): the session itself is fine, which a 401 would put in doubt.
  assertProblem(t, wrong, 403, 'INVALID_PASSWORD');
  const code = await reauthenticate(ctx, user.auth, { method: 'totp', code: '123456' });
  assertProblem(t, code, 400, 'MFA_METHOD_UNAVAILABLE', 'no factor to reauthenticate with');
  await allRefused(t, user.auth, { id, password: user.password }, { required_aal: 1 }, 'after wrong reauthentications');

  const ok = await reauthenticate(ctx, user.auth, { password: user.password });
  t.equal(ok.statusCode, 200, ok.body);
  t.same(ok.json(), {
    aal: 1,
    authenticated_at: clock.now().toISOString(),
    fresh_until: new Date(clock.now().getTime() + 300_000).toISOString(),
  });
  const deleted = await call(ctx, user.auth, { method: 'DELETE', url: '/v1/me', payload: { password: user.password } });
  t.equal(deleted.statusCode, 204, deleted.body);
  t.notOk(await ctx.db.selectFrom('users').select('id').where('id', '=', id).executeTakeFirst(), 'the account is gone');
});

t.test('with a factor, an aal1 session from before it was turned on is refused however fresh, until a factor is proved', async (t) => {
  const user = await userWithTotpAndEarlierSession(ctx, clock);
  // A password session opened a moment before the app was turned on (the session that confirmed
  // it is aal2 since; this one is not): recent, but it proved the password only.
  const { earlier } = user;
  await allRefused(t, earlier.auth, user, WITH_FACTOR, 'aal1 session');

  // The password is not enough for an account with a factor, and is not even checked.
  for (const password of [user.password, 'not-the-password-1']) {
    const res = await reauthenticate(ctx, earlier.auth, { password });
    const body = assertProblem(t, res, 403, 'REAUTHENTICATION_REQUIRED', 'password reauthentication');
    t.match(body, WITH_FACTOR);
  }
  await allRefused(t, earlier.auth, user, WITH_FACTOR, 'after a password reauthentication');

  const wrong = await reauthenticate(ctx, earlier.auth, { method: 'totp', code: '000000' });
  assertProblem(t, wrong, 401, 'MFA_CODE_INVALID');
  await allRefused(t, earlier.auth, user, WITH_FACTOR, 'after a wrong code');
  const session = () =>
    ctx.db
      .selectFrom('sessions')
      .select(['aal', 'amr', 'auth_aal', 'auth_at'])
      .where('id', '=', earlier.tokens.session_id)
      .executeTakeFirstOrThrow();
  t.match(await session(), { aal: 1, auth_aal: 1 }, 'still aal1');

  const ok = await reauthenticate(ctx, earlier.auth, { method: 'totp', code: nextTotp(user.secret, clock) });
  t.equal(ok.statusCode, 200, ok.body);
  t.match(ok.json(), { aal: 2, authenticated_at: clock.now().toISOString() });
  const row = await session();
  t.match(row, { aal: 2, auth_aal: 2 }, 'the session is lifted to aal2');
  t.ok(row.amr.includes('otp') && row.amr.includes('pwd'), `amr ${row.amr}`);
  t.equal(row.auth_at.getTime(), clock.now().getTime());

  // The access token in hand still says what it said; the next refresh's says aal 2.
  t.equal(decode(earlier.tokens.access_token).claims.aal, 1);
  const next = await refresh(ctx, earlier.tokens.refresh_token);
  t.equal(next.res.statusCode, 200);
  const claims = decode(next.body.access_token).claims as { aal: number; amr: string[] };
  t.equal(claims.aal, 2);
  t.ok(claims.amr.includes('otp'), `amr ${claims.amr}`);

  const codesBefore = await ctx.db.selectFrom('mfa_backup_codes').select('code_hash').where('user_id', '=', user.id).execute();
  const regenerated = await call(ctx, bearer(next.body.access_token), { method: 'POST', url: '/v1/me/mfa/backup-codes' });
  t.equal(regenerated.statusCode, 200, regenerated.body);
  t.equal(regenerated.headers['cache-control'], 'no-store');
  const fresh = regenerated.json<{ backup_codes: string[]; remaining: number }>();
  t.equal(fresh.backup_codes.length, 10);
  t.equal(fresh.remaining, 10);
  const codesAfter = await ctx.db.selectFrom('mfa_backup_codes').select('code_hash').where('user_id', '=', user.id).execute();
  t.equal(codesAfter.length, 10);
  t.notOk(
    codesAfter.some((a) => codesBefore.some((b) => b.code_hash.equals(a.code_hash))),
    'the old set is gone',
  );
  const { mfa_token } = await firstStep(ctx, user);
  assertProblem(t, await secondStep(ctx, mfa_token, 'backup_code', user.backupCodes[0]), 401, 'MFA_CODE_INVALID', 'an old code is void');
  t.equal((await secondStep(ctx, mfa_token, 'backup_code', fresh.backup_codes[0])).statusCode, 200, 'a new code works');
});

t.test('an aal2 login counts for five minutes; after that a code makes the session fresh again', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const pair = await aal2Login(ctx, user, clock);
  clock.advance(240);
  const within = await call(ctx, pair.auth, { method: 'POST', url: '/v1/me/mfa/backup-codes' });
  t.equal(within.statusCode, 200, `4 minutes after the aal2 login: ${within.body}`);
  clock.advance(61);
  await allRefused(t, pair.auth, user, WITH_FACTOR, '5 min 1 s after the aal2 login');

  const ok = await reauthenticate(ctx, pair.auth, { method: 'totp', code: nextTotp(user.secret, clock) });
  t.equal(ok.statusCode, 200, ok.body);
  const removed = await call(ctx, pair.auth, { method: 'DELETE', url: '/v1/me/mfa/totp' });
  t.equal(removed.statusCode, 204, removed.body);
  t.equal((await ctx.db.selectFrom('mfa_factors').select('id').where('user_id', '=', user.id).execute()).length, 0, 'the app is gone');
  t.equal(
    (await ctx.db.selectFrom('mfa_backup_codes').select('user_id').where('user_id', '=', user.id).execute()).length,
    0,
    'and its codes',
  );
  // Without a factor now, the same fresh session may delete the account.
  const deleted = await call(ctx, pair.auth, { method: 'DELETE', url: '/v1/me', payload: { password: user.password } });
  t.equal(deleted.statusCode, 204, deleted.body);
});

t.test('a backup code reauthenticates too, and is spent by it', async (t) => {
  const user = await userWithTotpAndEarlierSession(ctx, clock);
  // An aal1 session (from before the app was turned on) is lifted by a backup code.
  const { earlier } = user;
  const ok = await reauthenticate(ctx, earlier.auth, { method: 'backup_code', code: user.backupCodes[0] });
  t.equal(ok.statusCode, 200, ok.body);
  t.equal(ok.json().aal, 2);
  const again = await reauthenticate(ctx, earlier.auth, { method: 'backup_code', code: user.backupCodes[0] });
  assertProblem(t, again, 401, 'MFA_CODE_INVALID', 'the same code twice');
  const mfa = await ctx.app.inject({ method: 'GET', url: '/v1/me/mfa', headers: earlier.auth });
  t.equal(mfa.json().backup_codes_remaining, 9);
});

t.test('wrong codes at reauthentication count in the account budget shared with login, and are audited', async (t) => {
  const user = await userWithTotpAndEarlierSession(ctx, clock);
  // An aal1 session (from before the app was turned on), so that "still not fresh" means the wrong
  // codes lifted nothing (the session that confirmed the app is aal2 from the start).
  const { earlier } = user;
  for (let i = 0; i < 3; i++) {
    assertProblem(
      t,
      await reauthenticate(ctx, earlier.auth, { method: 'totp', code: `00000${i}` }),
      401,
      'MFA_CODE_INVALID',
      `wrong ${i + 1}`,
    );
  }
  const right = totpCode(user.secret, clock.nowSeconds() + 30);
  const throttled = await reauthenticate(ctx, earlier.auth, { method: 'totp', code: right });
  const body = assertProblem(t, throttled, 429, 'MFA_THROTTLED', 'the budget is spent: even the right code waits');
  t.ok(Number(body.retry_after) > 0);
  const { mfa_token } = await firstStep(ctx, user);
  assertProblem(t, await secondStep(ctx, mfa_token, 'totp', right), 429, 'MFA_THROTTLED', 'and so does a login');
  await allRefused(t, earlier.auth, user, WITH_FACTOR, 'still not fresh');
  const rows = await auditOf(ctx, user.id, (r) => r.filter((e) => e.action === 'mfa.verification_failed').length >= 3);
  const failed = rows.filter((r) => r.action === 'mfa.verification_failed');
  t.equal(failed.length, 3);
  for (const r of failed) t.same(r.data, { method: 'totp', purpose: 'reauthenticate' });
});

t.test('reauthentication is bound to the caller: it needs a live session, and lifts only that one', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const other = await aal2Login(ctx, user, clock);
  clock.advance(301);
  const ok = await reauthenticate(ctx, user.auth, { method: 'totp', code: nextTotp(user.secret, clock) });
  t.equal(ok.statusCode, 200);
  await allRefused(t, other.auth, user, WITH_FACTOR, 'another session of the same user stays stale');
  const logout = await ctx.app.inject({ method: 'POST', url: '/v1/logout', headers: user.auth });
  t.equal(logout.statusCode, 204);
  const after = await reauthenticate(ctx, user.auth, { method: 'totp', code: nextTotp(user.secret, clock) });
  assertProblem(t, after, 401, 'SESSION_REVOKED', 'a signed-out session cannot be made fresh');
  const noAuth = await ctx.app.inject({ method: 'POST', url: '/v1/me/reauthenticate', payload: { password: user.password } });
  assertProblem(t, noAuth, 401, 'AUTHENTICATION_REQUIRED');
});
