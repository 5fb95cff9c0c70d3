import t from 'tap';
import { randomUUID } from 'node:crypto';
import { buildTestApp, createVerifiedUser, login, loggedInUser, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { eventually } from '../../helpers/eventually.js';

const CHROME_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const FIREFOX_WIN = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0';

type Tokens = { access_token: string; refresh_token: string; session_id: string };
const bearer = (tokens: Tokens) => ({ authorization: `Bearer ${tokens.access_token}` });

async function twoSessions(ctx: TestApp) {
  const user = await createVerifiedUser(ctx);
  const mac = await login(ctx, user.email, user.password, {}, { 'user-agent': CHROME_MAC });
  const win = await login(ctx, user.email, user.password, {}, { 'user-agent': FIREFOX_WIN });
  if (mac.res.statusCode !== 200 || win.res.statusCode !== 200) throw new Error('login failed');
  return { user, mac: mac.body as Tokens, win: win.body as Tokens };
}

async function list(ctx: TestApp, tokens: Tokens) {
  const res = await ctx.app.inject({ method: 'GET', url: '/v1/me/sessions', headers: bearer(tokens) });
  return { res, sessions: res.statusCode === 200 ? (res.json().sessions as Array<Record<string, any>>) : [] };
}

function me(ctx: TestApp, tokens: Tokens) {
  return ctx.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(tokens) });
}

t.test("GET /v1/me/sessions lists every session with its device, marking only the caller's as current", async (t) => {
  const ctx = await buildTestApp(t);
  const { user, mac, win } = await twoSessions(ctx);
  const { res, sessions } = await list(ctx, mac);
  t.equal(res.statusCode, 200);
  t.equal(sessions.length, 2);
  const account = await ctx.db.selectFrom('users').select('id').where('email', '=', user.email).executeTakeFirstOrThrow();
  const byId = new Map(sessions.map((s) => [s.id, s]));
  t.same([...byId.keys()].sort(), [mac.session_id, win.session_id].sort());
  const macRow = byId.get(mac.session_id)!;
  const winRow = byId.get(win.session_id)!;
  t.equal(macRow.current, true, "the caller's session is current");
  t.equal(winRow.current, false, 'the other is not');
  for (const row of [macRow, winRow]) {
    t.same(
      Object.keys(row).sort(),
      ['aal', 'created_at', 'current', 'device', 'expires_at', 'id', 'ip', 'last_seen_at', 'roles', 'user', 'user_agent'].sort(),
    );
    t.same(row.user, { id: account.id, email: user.email });
    t.same(row.roles, []);
    t.equal(row.aal, 1);
    t.equal(row.ip, '127.0.0.1');
    for (const f of ['created_at', 'last_seen_at', 'expires_at']) {
      t.match(row[f], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, `${f} is ISO 8601`);
      t.ok(Math.abs(Date.parse(row[f]) - Date.now() - (f === 'expires_at' ? 43200_000 : 0)) < 10_000, `${f} is plausible`);
    }
  }
  t.equal(macRow.user_agent, CHROME_MAC);
  t.equal(winRow.user_agent, FIREFOX_WIN);
  t.match(macRow.device, /Chrome/);
  t.match(macRow.device, /macOS/);
  t.match(winRow.device, /Firefox/);
  t.match(winRow.device, /Windows/);

  const fromWin = await list(ctx, win);
  t.equal(fromWin.sessions.find((s) => s.id === win.session_id)?.current, true, 'current follows the caller');
  t.equal(fromWin.sessions.find((s) => s.id === mac.session_id)?.current, false);
});

t.test('DELETE /v1/me/sessions/{id} revokes the other session: 204, its token 401, the list shows one', async (t) => {
  const ctx = await buildTestApp(t);
  const { mac, win } = await twoSessions(ctx);
  const del = await ctx.app.inject({ method: 'DELETE', url: `/v1/me/sessions/${win.session_id}`, headers: bearer(mac) });
  t.equal(del.statusCode, 204);
  t.equal(del.body, '');
  assertProblem(t, await me(ctx, win), 401, 'SESSION_REVOKED');
  t.equal((await me(ctx, mac)).statusCode, 200, 'the caller stays signed in');
  const { sessions } = await list(ctx, mac);
  t.same(
    sessions.map((s) => s.id),
    [mac.session_id],
  );
  const row = await ctx.db.selectFrom('sessions').selectAll().where('id', '=', win.session_id).executeTakeFirstOrThrow();
  t.ok(row.revoked_at);
  t.equal(row.revoked_reason, 'revoked_by_user');
  const again = await ctx.app.inject({ method: 'DELETE', url: `/v1/me/sessions/${win.session_id}`, headers: bearer(mac) });
  t.equal(again.statusCode, 404, 'revoking twice is not found');
  const refresh = await ctx.app.inject({
    method: 'POST',
    url: '/v1/token',
    payload: { grant_type: 'refresh_token', refresh_token: win.refresh_token },
  });
  assertProblem(t, refresh, 400, 'INVALID_GRANT', 'its refresh token is dead');
});

t.test("DELETE of an unknown or another user's session id is 404 SESSION_NOT_FOUND and changes nothing", async (t) => {
  const ctx = await buildTestApp(t);
  const a = await loggedInUser(ctx);
  const b = await loggedInUser(ctx);
  const unknown = await ctx.app.inject({ method: 'DELETE', url: `/v1/me/sessions/${randomUUID()}`, headers: b.auth });
  assertProblem(t, unknown, 404, 'SESSION_NOT_FOUND');
  const cross = await ctx.app.inject({ method: 'DELETE', url: `/v1/me/sessions/${a.tokens.session_id}`, headers: b.auth });
  assertProblem(t, cross, 404, 'SESSION_NOT_FOUND', "B cannot revoke A's session");
  const strip = ({ request_id: _r, ...rest }: Record<string, unknown>) => rest;
  t.same(strip(cross.json()), strip(unknown.json()), 'same answer as for an id that does not exist');
  t.equal((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: a.auth })).statusCode, 200, "A's session is alive");
  const row = await ctx.db.selectFrom('sessions').select('revoked_at').where('id', '=', a.tokens.session_id).executeTakeFirstOrThrow();
  t.equal(row.revoked_at, null);
  t.equal((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: b.auth })).statusCode, 200, "and B's too");
});

t.test('DELETE with an id that is not a uuid is 400', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await loggedInUser(ctx);
  for (const id of ['not-a-uuid', '1', `${user.tokens.session_id}x`]) {
    const res = await ctx.app.inject({ method: 'DELETE', url: `/v1/me/sessions/${id}`, headers: user.auth });
    assertProblem(t, res, 400, 'VALIDATION_FAILED', id);
  }
  t.equal((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: user.auth })).statusCode, 200);
});

t.test('POST /v1/me/sessions/revoke-others revokes every other session and keeps the current one', async (t) => {
  const ctx = await buildTestApp(t);
  const { user, mac, win } = await twoSessions(ctx);
  const third = (await login(ctx, user.email, user.password)).body as Tokens;
  const other = await loggedInUser(ctx);
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/me/sessions/revoke-others', headers: bearer(mac) });
  t.equal(res.statusCode, 200);
  t.same(res.json(), { revoked: 2 });
  assertProblem(t, await me(ctx, win), 401, 'SESSION_REVOKED');
  assertProblem(t, await me(ctx, third), 401, 'SESSION_REVOKED');
  t.equal((await me(ctx, mac)).statusCode, 200, 'current session works');
  t.equal((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: other.auth })).statusCode, 200, 'another user is untouched');
  t.same(
    (await list(ctx, mac)).sessions.map((s) => s.id),
    [mac.session_id],
  );
  const again = await ctx.app.inject({ method: 'POST', url: '/v1/me/sessions/revoke-others', headers: bearer(mac) });
  t.same(again.json(), { revoked: 0 });
});

t.test('POST /v1/logout: 204, the access token is then 401 SESSION_REVOKED and the refresh token INVALID_GRANT', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await loggedInUser(ctx);
  const out = await ctx.app.inject({ method: 'POST', url: '/v1/logout', headers: user.auth });
  t.equal(out.statusCode, 204);
  const after = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: user.auth });
  assertProblem(t, after, 401, 'SESSION_REVOKED');
  const refresh = await ctx.app.inject({
    method: 'POST',
    url: '/v1/token',
    payload: { grant_type: 'refresh_token', refresh_token: user.tokens.refresh_token },
  });
  assertProblem(t, refresh, 400, 'INVALID_GRANT');
  const row = await ctx.db.selectFrom('sessions').selectAll().where('id', '=', user.tokens.session_id).executeTakeFirstOrThrow();
  t.ok(row.revoked_at);
  t.equal(row.revoked_reason, 'logout');
  const twice = await ctx.app.inject({ method: 'POST', url: '/v1/logout', headers: user.auth });
  t.equal(twice.statusCode, 401, 'a second logout with the same token is refused');
});

t.test('a new instance on the same database with an empty KV still rejects a revoked session (marks reloaded from Postgres)', async (t) => {
  const ctx = await buildTestApp(t);
  const { mac, win } = await twoSessions(ctx);
  const del = await ctx.app.inject({ method: 'DELETE', url: `/v1/me/sessions/${win.session_id}`, headers: bearer(mac) });
  t.equal(del.statusCode, 204);
  const fresh = await buildTestApp(t, { shareDb: { db: ctx.db, url: ctx.dbUrl }, kv: 'memory' });
  t.not(fresh.kv, ctx.kv, 'a separate KV store');
  assertProblem(t, await me(fresh, win), 401, 'SESSION_REVOKED', 'revoked on the new instance too');
  t.equal((await me(fresh, mac)).statusCode, 200, 'the live session works on the new instance');
});

t.test('POST /v1/me/sessions/revoke-others audits what it revoked, and writes nothing when it revoked nothing', async (t) => {
  const ctx = await buildTestApp(t);
  const { user, mac, win } = await twoSessions(ctx);
  const account = await ctx.db.selectFrom('users').select('id').where('email', '=', user.email).executeTakeFirstOrThrow();
  const events = () =>
    ctx.db
      .selectFrom('audit_events')
      .selectAll()
      .where('actor_id', '=', account.id)
      .where('action', '=', 'session.revoked_others')
      .execute();

  const first = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/sessions/revoke-others',
    headers: bearer(mac),
    remoteAddress: '192.0.2.10',
  });
  t.same(first.json(), { revoked: 1 });
  const recorded = await eventually(async () => {
    const rows = await events();
    return rows.length ? rows : null;
  });
  t.equal(recorded.length, 1, 'one event');
  t.same(recorded[0]!.data, { count: 1 });
  t.equal(recorded[0]!.ip, '192.0.2.10');
  assertProblem(t, await me(ctx, win), 401, 'SESSION_REVOKED');

  const nothing = await ctx.app.inject({ method: 'POST', url: '/v1/me/sessions/revoke-others', headers: bearer(mac) });
  t.same(nothing.json(), { revoked: 0 });
  // Detached writes land just after the response: give a stray one the time to arrive.
  await new Promise((r) => setTimeout(r, 150));
  t.equal((await events()).length, 1, 'no event for a revoke-others that revoked nothing');
});
