import t from 'tap';
import type { Test } from 'tap';
import { createHash } from 'node:crypto';
import { buildTestApp, loggedInUser, type TestApp } from '../../helpers/app.js';
import { offsetClock } from '../../../src/infra/clock.js';
import { assertProblem } from '../../helpers/problem.js';
import { decode, me, refresh, waitForAudit } from './forge.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest();
const HOUR = 3600_000;

async function refreshRow(ctx: TestApp, token: string) {
  return ctx.db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', sha256(token)).executeTakeFirst();
}

async function assertRotated(
  t: Test,
  ctx: TestApp,
  old: { refresh_token: string; access_token: string; session_id: string },
  res: Awaited<ReturnType<typeof refresh>>,
) {
  t.equal(res.res.statusCode, 200);
  t.equal(res.res.headers['cache-control'], 'no-store');
  t.equal(res.body.status, 'authenticated');
  t.equal(res.body.token_type, 'Bearer');
  t.equal(res.body.expires_in, 900);
  t.equal(res.body.session_id, old.session_id, 'same session');
  t.not(res.body.refresh_token, old.refresh_token, 'new refresh token');
  t.not(res.body.access_token, old.access_token, 'new access token');
  t.equal(decode(res.body.access_token).claims.sid, old.session_id);
  t.equal((await me(ctx, res.body.access_token)).res.statusCode, 200, 'new access token works');
  const spent = await refreshRow(ctx, old.refresh_token);
  t.ok(spent?.used_at, 'the old refresh token is marked spent');
  const fresh = await refreshRow(ctx, res.body.refresh_token);
  t.ok(fresh, 'the new refresh token is stored (hashed)');
  t.equal(fresh?.used_at, null, 'and unspent');
}

t.test('refresh with a JSON body rotates: new access and refresh token, the old one spent', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await loggedInUser(ctx);
  await assertRotated(t, ctx, user.tokens, await refresh(ctx, user.tokens.refresh_token));
});

t.test('refresh with a form-encoded body rotates the same way', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await loggedInUser(ctx);
  const res = await refresh(ctx, user.tokens.refresh_token, { form: true });
  await assertRotated(t, ctx, user.tokens, res);
  // And the rotated token rotates again, form-encoded.
  const again = await refresh(ctx, res.body.refresh_token, { form: true });
  await assertRotated(t, ctx, res.body, again);
});

t.test('20 concurrent refreshes with one token yield exactly one new pair; beyond the one grace retry they are reuse', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await loggedInUser(ctx);
  const results = await Promise.all(Array.from({ length: 20 }, () => refresh(ctx, user.tokens.refresh_token)));
  const ok = results.filter((r) => r.res.statusCode === 200);
  // One spends the token; of the 19 others (all the same client) at most one is answered as the
  // grace retry; the rest replay a spent token and end the session.
  t.ok(ok.length >= 1 && ok.length <= 2, `${ok.length} answered: the spend and at most one grace retry`);
  for (const r of results.filter((r) => r.res.statusCode !== 200)) assertProblem(t, r.res, 400, 'INVALID_GRANT');
  const distinct = new Set(ok.map((r) => r.body.refresh_token));
  t.equal(distinct.size, 1, 'every success carries the same refresh token');
  const rows = await ctx.db.selectFrom('refresh_tokens').selectAll().where('session_id', '=', user.tokens.session_id).execute();
  t.equal(rows.length, 2, 'the original and exactly one successor');
  const [successor] = distinct;
  t.ok(
    rows.some((r) => r.token_hash.equals(sha256(successor))),
    'the successor in the DB is the one handed out',
  );
  const session = await ctx.db.selectFrom('sessions').selectAll().where('id', '=', user.tokens.session_id).executeTakeFirstOrThrow();
  t.equal(session.revoked_reason, 'refresh_token_reuse', 'more replays than the one retry are reuse: the session is revoked');
  t.equal((await refresh(ctx, successor)).body.code, 'INVALID_GRANT', 'so the successor is dead too');
  t.ok(await waitForAudit(ctx, 'session.refresh_token_reused', user.tokens.session_id), 'the reuse is audited');
  const replays = await ctx.db.selectFrom('audit_events').select('id').where('action', '=', 'session.refresh_grace_replay').execute();
  t.ok(replays.length <= 1, `at most one grace retry audited (${replays.length})`);
});

t.test('reusing a spent token after the grace window revokes the whole session and is recorded', async (t) => {
  const clock = offsetClock();
  const ctx = await buildTestApp(t, { clock });
  const user = await loggedInUser(ctx);
  const first = await refresh(ctx, user.tokens.refresh_token);
  t.equal(first.res.statusCode, 200);
  clock.advance(10_000);

  const reuse = await refresh(ctx, user.tokens.refresh_token);
  t.equal(reuse.res.statusCode, 400);
  t.equal(reuse.body.code, 'INVALID_GRANT');
  t.match(reuse.res.headers['content-type'], /application\/problem\+json/);

  const session = await ctx.db.selectFrom('sessions').selectAll().where('id', '=', user.tokens.session_id).executeTakeFirstOrThrow();
  t.ok(session.revoked_at, 'session revoked in Postgres');
  t.equal(session.revoked_reason, 'refresh_token_reuse');

  const newest = await refresh(ctx, first.body.refresh_token);
  t.equal(newest.res.statusCode, 400, 'the newest refresh token is dead too');
  t.equal(newest.body.code, 'INVALID_GRANT');

  for (const access of [first.body.access_token, user.tokens.access_token]) {
    const res = await me(ctx, access);
    t.equal(res.res.statusCode, 401);
    t.equal(res.body.code, 'SESSION_REVOKED');
  }
  const event = await waitForAudit(ctx, 'session.refresh_token_reused', user.tokens.session_id);
  t.ok(event, 'audit event session.refresh_token_reused recorded');
  t.equal(event?.target_type, 'session');
  t.equal(event?.actor_id, decode(user.tokens.access_token).claims.sub);
});

t.test('with REFRESH_REUSE_GRACE_SECONDS=0 any replay of a spent token revokes the session', async (t) => {
  const ctx = await buildTestApp(t, { env: { REFRESH_REUSE_GRACE_SECONDS: '0' } });
  const user = await loggedInUser(ctx);
  const first = await refresh(ctx, user.tokens.refresh_token);
  t.equal(first.res.statusCode, 200);
  await new Promise((r) => setTimeout(r, 5));
  const reuse = await refresh(ctx, user.tokens.refresh_token);
  t.equal(reuse.res.statusCode, 400);
  t.equal(reuse.body.code, 'INVALID_GRANT');
  t.equal((await me(ctx, first.body.access_token)).body.code, 'SESSION_REVOKED');
  const session = await ctx.db
    .selectFrom('sessions')
    .select(['revoked_at', 'revoked_reason'])
    .where('id', '=', user.tokens.session_id)
    .executeTakeFirstOrThrow();
  t.equal(session.revoked_reason, 'refresh_token_reuse');
});

t.test('a retry within the grace window gets the same successor back (lost response)', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await loggedInUser(ctx);
  const first = await refresh(ctx, user.tokens.refresh_token);
  t.equal(first.res.statusCode, 200);
  const retry = await refresh(ctx, user.tokens.refresh_token);
  t.equal(retry.res.statusCode, 200);
  t.equal(retry.body.refresh_token, first.body.refresh_token, 'same successor refresh token');
  t.equal(retry.body.session_id, user.tokens.session_id);
  t.equal((await me(ctx, retry.body.access_token)).res.statusCode, 200);
  const session = await ctx.db
    .selectFrom('sessions')
    .select('revoked_at')
    .where('id', '=', user.tokens.session_id)
    .executeTakeFirstOrThrow();
  t.equal(session.revoked_at, null, 'session still alive');
  const rows = await ctx.db.selectFrom('refresh_tokens').select('token_hash').where('session_id', '=', user.tokens.session_id).execute();
  t.equal(rows.length, 2, 'no extra token minted for the retry');
  t.equal((await refresh(ctx, first.body.refresh_token)).res.statusCode, 200, 'the successor still rotates');
});

t.test('once the successor has been used, replaying the original even within grace revokes', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await loggedInUser(ctx);
  const first = await refresh(ctx, user.tokens.refresh_token);
  const second = await refresh(ctx, first.body.refresh_token);
  t.equal(second.res.statusCode, 200);
  const replay = await refresh(ctx, user.tokens.refresh_token);
  t.equal(replay.res.statusCode, 400);
  t.equal(replay.body.code, 'INVALID_GRANT');
  const session = await ctx.db
    .selectFrom('sessions')
    .select(['revoked_at', 'revoked_reason'])
    .where('id', '=', user.tokens.session_id)
    .executeTakeFirstOrThrow();
  t.ok(session.revoked_at);
  t.equal(session.revoked_reason, 'refresh_token_reuse');
  t.equal((await refresh(ctx, second.body.refresh_token)).body.code, 'INVALID_GRANT', 'latest token is dead');
  t.equal((await me(ctx, second.body.access_token)).body.code, 'SESSION_REVOKED');
});

t.test('the refresh token dies 12 hours after login however often it was rotated', async (t) => {
  const clock = offsetClock();
  const ctx = await buildTestApp(t, { clock });
  const user = await loggedInUser(ctx);
  clock.advance(6 * HOUR);
  const mid = await refresh(ctx, user.tokens.refresh_token);
  t.equal(mid.res.statusCode, 200, 'rotation at 6 h works');
  t.ok(Math.abs(mid.body.refresh_expires_in - 21600) <= 2, `6 h left (${mid.body.refresh_expires_in})`);
  clock.advance(6 * HOUR - 10_000);
  const late = await refresh(ctx, mid.body.refresh_token);
  t.equal(late.res.statusCode, 200, 'still fine 10 s before the end');
  t.ok(late.body.refresh_expires_in <= 10, `${late.body.refresh_expires_in} s left`);
  clock.advance(11_000);
  const dead = await refresh(ctx, late.body.refresh_token);
  t.equal(dead.res.statusCode, 400, '12 h + 1 s after login');
  t.equal(dead.body.code, 'INVALID_GRANT');
});

t.test('refresh_expires_in counts down from login', async (t) => {
  const clock = offsetClock();
  const ctx = await buildTestApp(t, { clock });
  const user = await loggedInUser(ctx);
  clock.advance(HOUR);
  const res = await refresh(ctx, user.tokens.refresh_token);
  t.equal(res.res.statusCode, 200);
  t.ok(res.body.refresh_expires_in <= 39600 && res.body.refresh_expires_in >= 39597, `about 39600 (${res.body.refresh_expires_in})`);
  t.equal(res.body.expires_in, 900, 'the access token lifetime does not count down');
});

t.test('a garbage refresh token is 400 INVALID_GRANT', async (t) => {
  const ctx = await buildTestApp(t);
  for (const token of ['garbage', 'x'.repeat(43), Buffer.alloc(32, 1).toString('base64url')]) {
    const res = await refresh(ctx, token);
    t.equal(res.res.statusCode, 400);
    t.equal(res.body.code, 'INVALID_GRANT');
  }
  t.equal((await ctx.db.selectFrom('refresh_tokens').select('session_id').execute()).length, 0, 'nothing written');
});

t.test(
  'an unsupported grant_type is 400 VALIDATION_FAILED; token exchange (served by pats) refuses a bad PAT with INVALID_GRANT',
  async (t) => {
    const ctx = await buildTestApp(t);
    for (const grant_type of ['password', 'client_credentials', 'authorization_code']) {
      const res = await ctx.app.inject({ method: 'POST', url: '/v1/token', payload: { grant_type, refresh_token: 'x' } });
      t.equal(res.statusCode, 400, grant_type);
      t.equal(res.json().code, 'VALIDATION_FAILED');
    }
    const missing = await ctx.app.inject({ method: 'POST', url: '/v1/token', payload: { grant_type: 'refresh_token' } });
    t.equal(missing.statusCode, 400);
    t.equal(missing.json().code, 'VALIDATION_FAILED');
    const exchange = {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: 'tsr_pat_whatever',
      subject_token_type: 'urn:tessera:token-type:pat',
    };
    const json = await ctx.app.inject({ method: 'POST', url: '/v1/token', payload: exchange });
    t.equal(json.statusCode, 400);
    t.equal(json.json().code, 'INVALID_GRANT');
    const form = await ctx.app.inject({
      method: 'POST',
      url: '/v1/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(exchange).toString(),
    });
    t.equal(form.statusCode, 400);
    t.equal(form.json().code, 'INVALID_GRANT');
  },
);
