import t from 'tap';
import { buildTestApp, createVerifiedUser, login, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { userByEmail, waitForMail } from './support.js';

const NEW_PASSWORD = 'saffron-meadow-kettle-77';
const ctx = await buildTestApp(t);

async function twoSessions(ctx: TestApp) {
  const user = await createVerifiedUser(ctx);
  const a = await login(ctx, user.email, user.password);
  const b = await login(ctx, user.email, user.password);
  return {
    ...user,
    current: { ...a.body, auth: { authorization: `Bearer ${a.body.access_token}` } },
    other: { ...b.body, auth: { authorization: `Bearer ${b.body.access_token}` } },
  };
}

const change = (auth: Record<string, string>, current_password: string, new_password: string) =>
  ctx.app.inject({ method: 'POST', url: '/v1/me/password', headers: auth, payload: { current_password, new_password } });
const refresh = (refresh_token: string) =>
  ctx.app.inject({ method: 'POST', url: '/v1/token', payload: { grant_type: 'refresh_token', refresh_token } });

t.test('a wrong current password gets 403 INVALID_PASSWORD and changes nothing', async (t) => {
  const u = await twoSessions(ctx);
  const before = await userByEmail(ctx, u.email);
  const res = await change(u.current.auth, 'not-my-password-at-all', NEW_PASSWORD);
  assertProblem(t, res, 403, 'INVALID_PASSWORD');
  t.equal((await userByEmail(ctx, u.email))?.password_hash, before?.password_hash, 'hash unchanged');
  t.equal((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: u.other.auth })).statusCode, 200, 'the other session lives');
  const revoked = await ctx.db
    .selectFrom('sessions')
    .select('id')
    .where('user_id', '=', before!.id)
    .where('revoked_at', 'is not', null)
    .execute();
  t.same(revoked, [], 'no session revoked');
  t.equal((await login(ctx, u.email, u.password)).res.statusCode, 200, 'the old password still works');
});

t.test('a weak new password gets 422 with its reason, and nothing is revoked', async (t) => {
  const u = await twoSessions(ctx);
  const before = await userByEmail(ctx, u.email);
  const body = assertProblem(t, await change(u.current.auth, u.password, 'short'), 422, 'PASSWORD_TOO_SHORT');
  t.match(body.detail, /8/);
  assertProblem(t, await change(u.current.auth, u.password, 'Password1'), 422, 'PASSWORD_TOO_COMMON');
  t.equal((await userByEmail(ctx, u.email))?.password_hash, before?.password_hash);
  t.equal((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: u.other.auth })).statusCode, 200, 'the other session lives');
});

t.test('a password change revokes the other sessions, keeps the current one, retires the old password and sends a mail', async (t) => {
  const u = await twoSessions(ctx);
  const userId = (await userByEmail(ctx, u.email))!.id;
  const res = await change(u.current.auth, u.password, NEW_PASSWORD);
  t.equal(res.statusCode, 200, res.body);
  t.equal(res.json().status, 'accepted');

  const otherMe = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: u.other.auth });
  assertProblem(t, otherMe, 401, 'SESSION_REVOKED');
  assertProblem(t, await refresh(u.other.refresh_token), 400, 'INVALID_GRANT');

  const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: u.current.auth });
  t.equal(me.statusCode, 200, 'the current access token still works');
  const renewed = await refresh(u.current.refresh_token);
  t.equal(renewed.statusCode, 200, 'the current refresh token still rotates');

  const rows = await ctx.db.selectFrom('sessions').select(['id', 'revoked_at', 'revoked_reason']).where('user_id', '=', userId).execute();
  t.equal(rows.find((r) => r.id === u.other.session_id)?.revoked_reason, 'password_changed');
  t.equal(rows.find((r) => r.id === u.current.session_id)?.revoked_at, null, 'the current session is not revoked');

  const old = await login(ctx, u.email, u.password);
  assertProblem(t, old.res, 401, 'INVALID_CREDENTIALS');
  t.equal((await login(ctx, u.email, NEW_PASSWORD)).res.statusCode, 200, 'the new password logs in');

  const mail = await waitForMail(ctx, u.email, /password was changed/i);
  t.match(mail.text, /changed/);
  t.notMatch(mail.text, NEW_PASSWORD, 'the mail does not contain the password');
  const audit = await ctx.db
    .selectFrom('audit_events')
    .select('action')
    .where('actor_id', '=', userId)
    .where('action', '=', 'account.password_changed')
    .execute();
  t.equal(audit.length, 1, 'recorded in the audit trail');
});
