import t from 'tap';
import type { Test } from 'tap';
import { userWithSessions, buildTestApp, login, type TestApp } from '../../helpers/app.js';
import { refresh } from '../tokens/forge.js';

/**
 * Requests racing their account's deletion: whatever wins, nobody gets a 500. Each test runs
 * ROUNDS rounds of one DELETE /v1/me fired together with a batch of other requests of the same
 * account, then checks every answer and what the database holds.
 */
const ROUNDS = 20;
const ATTEMPTS = 6;

type Tokens = { access_token: string; refresh_token: string; session_id: string };
type Answer = { statusCode: number; body: string };
const bearer = (tokens: Tokens) => ({ authorization: `Bearer ${tokens.access_token}` });
// The races are the subject here, not password throttling: parallel logins of one account would
// otherwise run into its per-client budget.
const env = { LOGIN_ACCOUNT_FREE_FAILURES: '100000', LOGIN_IP_FREE_FAILURES: '100000', LOGIN_ACCOUNT_GLOBAL_FREE_FAILURES: '100000' };

const account = (ctx: TestApp, sessions: number) => userWithSessions(ctx, sessions);

function deleteAccount(ctx: TestApp, tokens: Tokens, password: string) {
  return ctx.app.inject({ method: 'DELETE', url: '/v1/me', headers: bearer(tokens), payload: { password } });
}

/** Each answer is one of `allowed` (status → codes, [] for a success); none is a 5xx. */
function checkAnswers(t: Test, ctx: TestApp, round: number, what: string, answers: Answer[], allowed: Record<number, string[]>) {
  for (const a of answers) {
    const body = a.statusCode >= 400 ? (JSON.parse(a.body) as { code?: string; request_id?: string }) : {};
    const ok = a.statusCode in allowed && (body.code === undefined || allowed[a.statusCode]!.includes(body.code));
    if (ok) continue;
    const log = ctx.logs.find((l) => body.request_id && l.includes(body.request_id) && l.includes('"err'));
    t.fail(`round ${round}: ${what} answered ${a.statusCode} ${body.code} ${log?.slice(0, 600) ?? ''}`);
  }
}

async function checkGone(t: Test, ctx: TestApp, round: number, userId: string) {
  const users = await ctx.db.selectFrom('users').select('id').where('id', '=', userId).execute();
  const sessions = await ctx.db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute();
  if (users.length || sessions.length) t.fail(`round ${round}: the account or ${sessions.length} sessions survived the deletion`);
}

t.test('logins racing their account deletion get 200 or 404 USER_NOT_FOUND, never a 500', async (t) => {
  const ctx = await buildTestApp(t, { env });
  const seen = new Map<number, number>();
  for (let round = 0; round < ROUNDS; round++) {
    const user = await account(ctx, 1);
    const [deletion, ...logins] = await Promise.all([
      deleteAccount(ctx, user.pairs[0]!, user.password),
      ...Array.from({ length: ATTEMPTS }, () => login(ctx, user.email, user.password).then((l) => l.res)),
    ]);
    checkAnswers(t, ctx, round, 'DELETE /v1/me', [deletion!], { 204: [] });
    checkAnswers(t, ctx, round, 'POST /v1/login', logins, { 200: [], 401: ['INVALID_CREDENTIALS'], 404: ['USER_NOT_FOUND'] });
    for (const l of logins) seen.set(l.statusCode, (seen.get(l.statusCode) ?? 0) + 1);
    await checkGone(t, ctx, round, user.id);
  }
  t.comment(`login answers: ${JSON.stringify(Object.fromEntries(seen))}`);
  t.pass('no login answered 5xx');
});

t.test('refreshes racing their account deletion get 200 or 400 INVALID_GRANT, never a 500', async (t) => {
  const ctx = await buildTestApp(t, { env });
  for (let round = 0; round < ROUNDS; round++) {
    const user = await account(ctx, ATTEMPTS + 1);
    const [deleter, ...others] = user.pairs;
    const [deletion, ...refreshes] = await Promise.all([
      deleteAccount(ctx, deleter!, user.password),
      ...others.map((p) => refresh(ctx, p.refresh_token).then((r) => r.res)),
    ]);
    checkAnswers(t, ctx, round, 'DELETE /v1/me', [deletion!], { 204: [] });
    checkAnswers(t, ctx, round, 'POST /v1/token', refreshes, { 200: [], 400: ['INVALID_GRANT'] });
    await checkGone(t, ctx, round, user.id);
  }
  t.pass('no refresh answered 5xx');
});

t.test('password changes racing their account deletion never get a 500', async (t) => {
  const ctx = await buildTestApp(t, { env });
  for (let round = 0; round < ROUNDS; round++) {
    const user = await account(ctx, 4);
    const [deleter, ...others] = user.pairs;
    const [deletion, ...changes] = await Promise.all([
      deleteAccount(ctx, deleter!, user.password),
      ...others.map((p, i) =>
        ctx.app.inject({
          method: 'POST',
          url: '/v1/me/password',
          headers: bearer(p),
          payload: { current_password: user.password, new_password: `quiet-meadow-lantern-${round}-${i}` },
        }),
      ),
    ]);
    // A change that commits first signs out the other sessions, the deleting one included.
    checkAnswers(t, ctx, round, 'DELETE /v1/me', [deletion!], { 204: [], 401: ['SESSION_REVOKED'], 403: ['INVALID_PASSWORD'] });
    checkAnswers(t, ctx, round, 'POST /v1/me/password', changes, {
      200: [],
      401: ['SESSION_REVOKED'],
      403: ['INVALID_PASSWORD'],
      404: ['USER_NOT_FOUND'],
    });
    if (deletion!.statusCode === 204) await checkGone(t, ctx, round, user.id);
    // A change that waited for the deletion finds the account gone: it reports no change and records none.
    const events = await ctx.db
      .selectFrom('audit_events')
      .select(['action', 'seq'])
      .where('actor_id', '=', user.id)
      .where('action', 'in', ['account.deleted', 'account.password_changed'])
      .orderBy('seq')
      .execute();
    const deletedAt = events.findIndex((e) => e.action === 'account.deleted');
    if (deletedAt >= 0 && events.slice(deletedAt + 1).length) t.fail(`round ${round}: a password change was recorded after the deletion`);
    const changedAfter =
      changes.filter((c) => c.statusCode === 200).length - events.filter((e) => e.action === 'account.password_changed').length;
    if (changedAfter !== 0) t.fail(`round ${round}: ${changedAfter} answers said the password changed without a change recorded`);
  }
  t.pass('no password change answered 5xx');
});

t.test('session listings, logouts, revocations and revoke-others racing the deletion never get a 500', async (t) => {
  const ctx = await buildTestApp(t, { env });
  for (let round = 0; round < ROUNDS; round++) {
    const user = await account(ctx, 5);
    const [deleter, a, b, c, d] = user.pairs as [Tokens, Tokens, Tokens, Tokens, Tokens];
    const [deletion, list, revokeOthers, logout, revokeOne] = await Promise.all([
      deleteAccount(ctx, deleter, user.password),
      ctx.app.inject({ method: 'GET', url: '/v1/me/sessions', headers: bearer(a) }),
      ctx.app.inject({ method: 'POST', url: '/v1/me/sessions/revoke-others', headers: bearer(b) }),
      ctx.app.inject({ method: 'POST', url: '/v1/logout', headers: bearer(c) }),
      ctx.app.inject({ method: 'DELETE', url: `/v1/me/sessions/${a.session_id}`, headers: bearer(d) }),
    ]);
    checkAnswers(t, ctx, round, 'DELETE /v1/me', [deletion!], { 204: [], 401: ['SESSION_REVOKED'] });
    checkAnswers(t, ctx, round, 'GET /v1/me/sessions', [list!], { 200: [], 401: ['SESSION_REVOKED'], 404: ['USER_NOT_FOUND'] });
    checkAnswers(t, ctx, round, 'POST /v1/me/sessions/revoke-others', [revokeOthers!], { 200: [], 401: ['SESSION_REVOKED'] });
    checkAnswers(t, ctx, round, 'POST /v1/logout', [logout!], { 204: [], 401: ['SESSION_REVOKED'], 404: ['SESSION_NOT_FOUND'] });
    checkAnswers(t, ctx, round, 'DELETE /v1/me/sessions/{id}', [revokeOne!], {
      204: [],
      401: ['SESSION_REVOKED'],
      404: ['SESSION_NOT_FOUND'],
    });
    if (deletion!.statusCode === 204) await checkGone(t, ctx, round, user.id);
  }
  t.pass('nothing answered 5xx');
});
