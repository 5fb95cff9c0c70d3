import t from 'tap';
import type { Test } from 'tap';
import { createHash } from 'node:crypto';
import { buildTestApp, createVerifiedUser, login, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { me, waitForAudit } from './forge.js';

/**
 * The grace window of refresh rotation: the client that spent a token may retry it once (it lost
 * the response) and gets the same successor back. A second retry, or a retry from another IP or
 * user agent, is a replay of a spent token: the session ends.
 */

const sha256 = (s: string) => createHash('sha256').update(s).digest();
const APP = { ip: '203.0.113.7', userAgent: 'ExampleApp/3.2 (iPhone; iOS 17.4)' };

type Client = { ip: string; userAgent: string };
type Tokens = { access_token: string; refresh_token: string; session_id: string };

async function refreshFrom(ctx: TestApp, refreshToken: string, client: Client) {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/token',
    remoteAddress: client.ip,
    headers: { 'user-agent': client.userAgent },
    payload: { grant_type: 'refresh_token', refresh_token: refreshToken },
  });
  return { res, body: res.json() };
}

/** A signed-in app, and the first rotation it made (whose answer it may then have lost). */
async function rotated(ctx: TestApp) {
  const user = await createVerifiedUser(ctx);
  const { body } = await login(ctx, user.email, user.password, {}, { 'user-agent': APP.userAgent });
  const original = body as Tokens;
  const first = await refreshFrom(ctx, original.refresh_token, APP);
  if (first.res.statusCode !== 200) throw new Error(`rotation failed: ${first.res.body}`);
  const account = await ctx.db.selectFrom('users').select('id').where('email', '=', user.email).executeTakeFirstOrThrow();
  return { userId: account.id, original, first: first.body as Tokens };
}

const sessionRow = (ctx: TestApp, id: string) => ctx.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

async function assertReuse(t: Test, ctx: TestApp, s: Awaited<ReturnType<typeof rotated>>, replay: Awaited<ReturnType<typeof refreshFrom>>) {
  assertProblem(t, replay.res, 400, 'INVALID_GRANT', 'the replay is refused');
  const session = await sessionRow(ctx, s.original.session_id);
  t.ok(session.revoked_at, 'the session is revoked');
  t.equal(session.revoked_reason, 'refresh_token_reuse');
  assertProblem(t, (await me(ctx, s.first.access_token)).res, 401, 'SESSION_REVOKED', "the successor's access token is refused");
  assertProblem(t, (await refreshFrom(ctx, s.first.refresh_token, APP)).res, 400, 'INVALID_GRANT', 'and so is its refresh token');
  const event = await waitForAudit(ctx, 'session.refresh_token_reused', s.original.session_id);
  t.ok(event, 'session.refresh_token_reused is audited');
  t.equal(event?.actor_id, s.userId);
  t.equal(event?.target_type, 'session');
  return event;
}

t.test('the one retry by the client that spent the token gets the same successor back, and is audited', async (t) => {
  const ctx = await buildTestApp(t);
  const s = await rotated(ctx);
  const retry = await refreshFrom(ctx, s.original.refresh_token, APP);
  t.equal(retry.res.statusCode, 200, retry.res.body);
  t.equal(retry.body.refresh_token, s.first.refresh_token, 'the same successor');
  t.equal(retry.body.session_id, s.original.session_id);
  t.equal((await me(ctx, retry.body.access_token)).res.statusCode, 200, 'its access token works');

  const spent = await ctx.db
    .selectFrom('refresh_tokens')
    .selectAll()
    .where('token_hash', '=', sha256(s.original.refresh_token))
    .executeTakeFirstOrThrow();
  t.equal(spent.spent_ip, APP.ip, 'the spent row records the IP that spent it');
  t.equal(spent.spent_user_agent, APP.userAgent, 'and its user agent');
  t.type(spent.replayed_at, Date, 'and that its one retry was answered');
  t.equal((await sessionRow(ctx, s.original.session_id)).revoked_at, null, 'the session is alive');
  const tokens = await ctx.db.selectFrom('refresh_tokens').select('token_hash').where('session_id', '=', s.original.session_id).execute();
  t.equal(tokens.length, 2, 'no token was minted for the retry');

  const event = await waitForAudit(ctx, 'session.refresh_grace_replay', s.original.session_id);
  t.ok(event, 'session.refresh_grace_replay is audited');
  t.equal(event?.actor_id, s.userId);
  t.equal(event?.target_type, 'session');
  t.equal(event?.ip, APP.ip);
  t.equal(event?.user_agent, APP.userAgent);
  t.type(event?.data.spent_seconds_ago, 'number');

  const next = await refreshFrom(ctx, s.first.refresh_token, APP);
  t.equal(next.res.statusCode, 200, 'the successor still rotates');
});

t.test('a second retry of the same spent token is reuse: the session ends', async (t) => {
  const ctx = await buildTestApp(t);
  const s = await rotated(ctx);
  t.equal((await refreshFrom(ctx, s.original.refresh_token, APP)).res.statusCode, 200, 'the first retry is answered');
  const second = await refreshFrom(ctx, s.original.refresh_token, APP);
  const event = await assertReuse(t, ctx, s, second);
  t.match(event?.data, { spent_seconds_ago: Number, within_grace: true, same_client: true });
});

t.test('a retry from another IP is reuse: refused, the session ends, audited', async (t) => {
  const ctx = await buildTestApp(t);
  const s = await rotated(ctx);
  const stolen = await refreshFrom(ctx, s.original.refresh_token, { ...APP, ip: '198.51.100.23' });
  const event = await assertReuse(t, ctx, s, stolen);
  t.equal(event?.ip, '198.51.100.23', 'the event names where the replay came from');
  t.match(event?.data, { spent_seconds_ago: Number, within_grace: true, same_client: false });
  const replays = await ctx.db.selectFrom('audit_events').select('id').where('action', '=', 'session.refresh_grace_replay').execute();
  t.equal(replays.length, 0, 'no grace replay was recorded');
  const revocation = await ctx.db.selectFrom('revocations').selectAll().where('session_id', '=', s.original.session_id).executeTakeFirst();
  t.equal(revocation?.reason, 'refresh_token_reuse', 'the revocation is recorded');
});

t.test('a retry from the same IP with another user agent is reuse', async (t) => {
  const ctx = await buildTestApp(t);
  const s = await rotated(ctx);
  const stolen = await refreshFrom(ctx, s.original.refresh_token, { ...APP, userAgent: 'curl/8.5.0' });
  const event = await assertReuse(t, ctx, s, stolen);
  t.equal(event?.user_agent, 'curl/8.5.0');
  t.equal(event?.data.same_client, false);
});

t.test('a replay from another client after the legitimate retry is reuse too', async (t) => {
  const ctx = await buildTestApp(t);
  const s = await rotated(ctx);
  t.equal((await refreshFrom(ctx, s.original.refresh_token, APP)).res.statusCode, 200);
  await assertReuse(t, ctx, s, await refreshFrom(ctx, s.original.refresh_token, { ...APP, ip: '198.51.100.23' }));
});
