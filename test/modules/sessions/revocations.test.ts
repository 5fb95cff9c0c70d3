import t from 'tap';
import type { Test } from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, copyFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import {
  buildTestApp,
  login,
  userWithSessions,
  redisUrl,
  uniqueEmail,
  waitForLinkToken,
  GOOD_PASSWORD,
  type TestApp,
} from '../../helpers/app.js';
import { createTestDatabase } from '../../helpers/db.js';
import { assertProblem } from '../../helpers/problem.js';
import { createRedisKv } from '../../../src/infra/kv/redis.js';
import type { KeyValueStore } from '../../../src/infra/kv/kv.js';
import { migrate } from '../../../src/infra/db/migrate.js';
import { projectRoot } from '../../../src/infra/project-root.js';
import { offsetClock } from '../../../src/infra/clock.js';

/**
 * Revocations are kept in their own table, independent of the sessions they revoke, and the KV
 * store's marks are reloaded from it: a deleted account's tokens stay refused whatever the KV
 * store lost.
 */

type Tokens = { access_token: string; refresh_token: string; session_id: string };
const bearer = (tokens: Tokens) => ({ authorization: `Bearer ${tokens.access_token}` });
// ACCESS_TOKEN_TTL (900 s by default) plus 60 s of skew.
const HORIZON_MS = 960_000;

const signedIn = (ctx: TestApp, sessions = 2) => userWithSessions(ctx, sessions);

const get = (ctx: TestApp, url: string, tokens: Tokens) => ctx.app.inject({ method: 'GET', url, headers: bearer(tokens) });

function deleteAccount(ctx: TestApp, tokens: Tokens, password: string) {
  return ctx.app.inject({ method: 'DELETE', url: '/v1/me', headers: bearer(tokens), payload: { password } });
}

const revocationsOf = (ctx: TestApp, sessionIds: string[]) =>
  ctx.db.selectFrom('revocations').selectAll().where('session_id', 'in', sessionIds).orderBy('id').execute();

/** One row per session: kind session, who, why, and until the last access token of it expires. */
async function assertRecorded(t: Test, ctx: TestApp, userId: string, sessionIds: string[], reason: string) {
  const rows = await revocationsOf(ctx, sessionIds);
  t.same(rows.map((r) => r.session_id).sort(), [...sessionIds].sort(), `${reason}: one revocation row per session`);
  for (const r of rows) {
    t.match(r, { kind: 'session', user_id: userId, org_id: null, pat_id: null, not_before: null, reason }, `${reason}: the row`);
    t.match(r.id, /^\d+$/, 'a bigserial id');
    t.ok(Math.abs(r.revoked_at.getTime() - Date.now()) < 10_000, 'revoked_at is now');
    t.equal(r.expires_at.getTime() - r.revoked_at.getTime(), HORIZON_MS, 'it matters for the access token lifetime plus skew');
  }
}

t.test("a deleted account's access tokens stay refused on an instance whose KV store never saw the marks", async (t) => {
  const ctx = await buildTestApp(t);
  const user = await signedIn(ctx, 2);
  const [a, b] = user.pairs as [Tokens, Tokens];
  const bystander = (await signedIn(ctx, 1)).pairs[0]!;
  t.equal((await deleteAccount(ctx, a, user.password)).statusCode, 204);

  t.same(await ctx.db.selectFrom('sessions').select('id').where('user_id', '=', user.id).execute(), [], 'the sessions rows are gone');
  await assertRecorded(t, ctx, user.id, [a.session_id, b.session_id], 'account_deleted');

  // Another instance on the same database with an empty KV store: what a Redis restart leaves.
  const fresh = await buildTestApp(t, { shareDb: { db: ctx.db, url: ctx.dbUrl }, kv: 'memory' });
  for (const [name, tokens] of [
    ['the deleting session', a],
    ['the other session', b],
  ] as const) {
    assertProblem(t, await get(fresh, '/v1/me', tokens), 401, 'SESSION_REVOKED', `${name}: GET /v1/me`);
    assertProblem(t, await get(fresh, '/v1/me/security-events', tokens), 401, 'SESSION_REVOKED', `${name}: its security events`);
    assertProblem(t, await get(fresh, '/v1/me/sessions', tokens), 401, 'SESSION_REVOKED', `${name}: its sessions`);
  }
  t.equal((await get(fresh, '/v1/me', bystander)).statusCode, 200, "another user's token works on the new instance");
});

t.test(
  'Redis losing its marks: the reload on reconnect restores them from the revocations table',
  { skip: !redisUrl() && 'no Redis' },
  async (t) => {
    const prefix = `t${randomBytes(4).toString('hex')}:`;
    const redis = await createRedisKv(redisUrl()!, undefined, prefix);
    // The real Redis KV; the test fires its reconnect handlers (what a reconnection does).
    const reconnectHandlers: Array<() => void> = [];
    const kv: KeyValueStore = {
      ...redis,
      onReconnect(handler) {
        reconnectHandlers.push(handler);
        redis.onReconnect(handler);
      },
    };
    const raw = new Redis(redisUrl()!);
    t.teardown(async () => {
      await redis.close();
      raw.disconnect();
    });
    const ctx = await buildTestApp(t, { kv });
    const user = await signedIn(ctx, 2);
    const [a, b] = user.pairs as [Tokens, Tokens];
    t.equal((await deleteAccount(ctx, a, user.password)).statusCode, 204);
    assertProblem(t, await get(ctx, '/v1/me', b), 401, 'SESSION_REVOKED', 'refused while the marks are there');

    // This file's keys vanish (FLUSHALL, scoped to the file: other files share the server).
    const keys = await raw.keys(`${prefix}*`);
    t.ok(keys.length >= 2, `marks were in Redis (${keys.length} keys)`);
    await raw.del(...keys);
    t.equal((await get(ctx, '/v1/me', b)).statusCode, 404, 'with the marks gone the token passes authentication (the account is gone)');

    t.ok(reconnectHandlers.length >= 1, 'a reload is registered for reconnections');
    for (const handler of reconnectHandlers) handler();
    for (const tokens of [a, b]) {
      await t.resolves(async () => {
        for (let i = 0; i < 100; i++) {
          if ((await get(ctx, '/v1/me', tokens)).statusCode === 401) return;
          await new Promise((r) => setTimeout(r, 20));
        }
        throw new Error('still accepted');
      }, 'refused again after the reload');
      assertProblem(t, await get(ctx, '/v1/me/security-events', tokens), 401, 'SESSION_REVOKED');
    }
    const ttl = await raw.ttl(`${prefix}tessera:{rev}:sid:${b.session_id}`);
    t.ok(ttl > 900 && ttl <= 960, `the mark lives until the revocation stops mattering (${ttl} s)`);
  },
);

t.test('every way a session ends writes its revocation row', async (t) => {
  const ctx = await buildTestApp(t);

  const logout = await signedIn(ctx, 1);
  t.equal((await ctx.app.inject({ method: 'POST', url: '/v1/logout', headers: bearer(logout.pairs[0]!) })).statusCode, 204);
  await assertRecorded(t, ctx, logout.id, [logout.pairs[0]!.session_id], 'logout');

  const one = await signedIn(ctx, 2);
  const del = await ctx.app.inject({
    method: 'DELETE',
    url: `/v1/me/sessions/${one.pairs[1]!.session_id}`,
    headers: bearer(one.pairs[0]!),
  });
  t.equal(del.statusCode, 204);
  await assertRecorded(t, ctx, one.id, [one.pairs[1]!.session_id], 'revoked_by_user');

  const others = await signedIn(ctx, 3);
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/me/sessions/revoke-others', headers: bearer(others.pairs[0]!) });
  t.same(res.json(), { revoked: 2 });
  await assertRecorded(t, ctx, others.id, [others.pairs[1]!.session_id, others.pairs[2]!.session_id], 'revoke_others');
  t.same(await revocationsOf(ctx, [others.pairs[0]!.session_id]), [], 'the kept session has none');

  const reuse = await signedIn(ctx, 1);
  const token = reuse.pairs[0]!.refresh_token;
  const refresh = (ip: string) =>
    ctx.app.inject({ method: 'POST', url: '/v1/token', remoteAddress: ip, payload: { grant_type: 'refresh_token', refresh_token: token } });
  t.equal((await refresh('127.0.0.1')).statusCode, 200);
  assertProblem(t, await refresh('198.51.100.23'), 400, 'INVALID_GRANT');
  await assertRecorded(t, ctx, reuse.id, [reuse.pairs[0]!.session_id], 'refresh_token_reuse');

  const change = await signedIn(ctx, 2);
  const changed = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/password',
    headers: bearer(change.pairs[0]!),
    payload: { current_password: change.password, new_password: 'amber-quarry-willow-77' },
  });
  t.equal(changed.statusCode, 200, changed.body);
  await assertRecorded(t, ctx, change.id, [change.pairs[1]!.session_id], 'password_changed');

  const reset = await signedIn(ctx, 2);
  t.equal((await ctx.app.inject({ method: 'POST', url: '/v1/password/forgot', payload: { email: reset.email } })).statusCode, 202);
  const resetToken = await waitForLinkToken(ctx, reset.email, 'reset-password');
  const done = await ctx.app.inject({
    method: 'POST',
    url: '/v1/password/reset',
    payload: { token: resetToken, password: 'amber-quarry-willow-78' },
  });
  t.equal(done.statusCode, 200, done.body);
  await assertRecorded(
    t,
    ctx,
    reset.id,
    reset.pairs.map((p) => p.session_id),
    'password_reset',
  );

  const gone = await signedIn(ctx, 2);
  t.equal((await deleteAccount(ctx, gone.pairs[0]!, gone.password)).statusCode, 204);
  await assertRecorded(
    t,
    ctx,
    gone.id,
    gone.pairs.map((p) => p.session_id),
    'account_deleted',
  );
});

t.test('verifying the address ends the sessions opened before, and records their revocations', async (t) => {
  const ctx = await buildTestApp(t, { env: { REQUIRE_EMAIL_VERIFICATION: 'false' } });
  const email = uniqueEmail();
  t.equal(
    (await ctx.app.inject({ method: 'POST', url: '/v1/signup', payload: { email, password: GOOD_PASSWORD, name: 'Early' } })).statusCode,
    202,
  );
  const early = await login(ctx, email, GOOD_PASSWORD);
  t.equal(early.res.statusCode, 200, 'an unverified account may log in here');
  const token = await waitForLinkToken(ctx, email, 'verify-email');
  const verify = await ctx.app.inject({ method: 'POST', url: '/v1/email/verify', payload: { token, password: GOOD_PASSWORD } });
  t.equal(verify.statusCode, 200, verify.body);
  const user = await ctx.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirstOrThrow();
  await assertRecorded(t, ctx, user.id, [early.body.session_id], 'email_verified');
  assertProblem(t, await get(ctx, '/v1/me', early.body), 401, 'SESSION_REVOKED');
});

t.test('revocations inside a transaction commit with it; a rollback leaves neither the row nor the mark', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await signedIn(ctx, 1);
  const sid = user.pairs[0]!.session_id;
  const { createUnitOfWork } = await import('../../../src/infra/db/unit-of-work.js');
  const withTransaction = createUnitOfWork(ctx.db);
  await t.rejects(
    withTransaction(async (tx) => {
      t.equal(await ctx.services.sessions.revokeAll(user.id, 'password_changed', { tx }), 1);
      throw new Error('rolled back');
    }),
    /rolled back/,
  );
  t.same(await revocationsOf(ctx, [sid]), [], 'no revocation row after the rollback');
  t.equal(await ctx.services.revocations.isRevoked(sid), false, 'and no mark');
  t.equal((await get(ctx, '/v1/me', user.pairs[0]!)).statusCode, 200, 'the session still works');
});

t.test('a revocation that no longer matters is not reloaded; sessions long over get no row', async (t) => {
  const clock = offsetClock();
  const ctx = await buildTestApp(t, { clock });
  const user = await signedIn(ctx, 2);
  const [a, b] = user.pairs as [Tokens, Tokens];
  t.equal((await ctx.app.inject({ method: 'POST', url: '/v1/logout', headers: bearer(a) })).statusCode, 204);
  clock.advance(HORIZON_MS + 1000);
  const later = await buildTestApp(t, { shareDb: { db: ctx.db, url: ctx.dbUrl }, kv: 'memory', clock });
  t.equal(await later.services.revocations.isRevoked(a.session_id), false, 'past expires_at: not reloaded');

  // b's session ended (its absolute expiry) long enough ago that no access token of it is alive.
  await ctx.db
    .updateTable('sessions')
    .set({ expires_at: new Date(clock.now().getTime() - HORIZON_MS - 1000) })
    .where('id', '=', b.session_id)
    .execute();
  t.equal(await ctx.services.sessions.revokeAll(user.id, 'password_changed'), 1, 'it is revoked');
  t.same(await revocationsOf(ctx, [b.session_id]), [], 'but needs no revocation row');
});

t.test('migrating a database with revoked sessions carries the ones that still matter into revocations', async (t) => {
  // A database as 0004 left it: the test database, emptied and migrated from a folder holding 0001-0004.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tessera-mig-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const all = (await readdir(path.join(projectRoot(), 'migrations'))).filter((f) => f.endsWith('.sql')).sort();
  for (const f of all.filter((f) => f < '0005')) await copyFile(path.join(projectRoot(), 'migrations', f), path.join(dir, f));
  const old = await createTestDatabase();
  t.teardown(() => old.drop());
  await sql`drop schema public cascade`.execute(old.db);
  await sql`create schema public`.execute(old.db);
  await migrate(old.db, dir);

  const userId = randomUUID();
  await sql`insert into users (id, email, email_normalized, password_hash, name) values (${userId}, 'x@example.com', 'x@example.com', 'h', 'X')`.execute(
    old.db,
  );
  const recent = randomUUID();
  const longAgo = randomUUID();
  const live = randomUUID();
  await sql`insert into sessions (id, user_id, expires_at, revoked_at, revoked_reason) values
    (${recent}, ${userId}, now() + interval '1 hour', now() - interval '5 minutes', 'logout'),
    (${longAgo}, ${userId}, now() + interval '1 hour', now() - interval '2 hours', 'logout'),
    (${live}, ${userId}, now() + interval '1 hour', null, null)`.execute(old.db);

  await migrate(old.db);
  const rows = await old.db.selectFrom('revocations').selectAll().execute();
  t.equal(rows.length, 1, 'only the revocation whose access tokens may be alive');
  t.match(rows[0], { kind: 'session', session_id: recent, user_id: userId, reason: 'logout' });
  t.ok(rows[0]!.expires_at.getTime() > Date.now(), 'and it still matters');
  const spent = await old.db.selectFrom('refresh_tokens').select(['spent_ip', 'spent_user_agent', 'replayed_at']).execute();
  t.same(spent, [], 'refresh_tokens has the new columns');
});
