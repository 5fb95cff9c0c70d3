import t from 'tap';
import { buildTestApp, GOOD_PASSWORD, loggedInUser, login, uniqueEmail, waitForLinkToken } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';

t.test('guessing the current password through POST /v1/me/password is throttled like a login', async (t) => {
  const ctx = await buildTestApp(t, { env: { LOGIN_ACCOUNT_FREE_FAILURES: '2' } });
  const user = await loggedInUser(ctx);
  const change = (current: string) =>
    ctx.app.inject({
      method: 'POST',
      url: '/v1/me/password',
      headers: user.auth,
      payload: { current_password: current, new_password: 'another-long-passphrase-9' },
    });
  const statuses = [];
  for (let i = 0; i < 5; i++) statuses.push((await change(`wrong-guess-${i}-xyz`)).statusCode);
  t.same(statuses.slice(0, 3), [403, 403, 403], 'two free guesses and the one that takes the lock are checked');
  const blocked = await change(user.password);
  assertProblem(t, blocked, 429, 'PASSWORD_ATTEMPTS_THROTTLED', 'then even the right password waits');
  t.match(blocked.headers['retry-after'], /^\d+$/);
  const row = await ctx.db.selectFrom('users').select('password_hash').where('email', '=', user.email).executeTakeFirstOrThrow();
  t.ok(row.password_hash.startsWith('$argon2id$'), 'the password was not changed');
  t.equal((await login(ctx, user.email, user.password)).res.statusCode, 429, 'the same account lock applies to login');
});

t.test('DELETE /v1/me shares the throttle: a stolen access token cannot guess its way to deletion', async (t) => {
  const ctx = await buildTestApp(t, { env: { LOGIN_ACCOUNT_FREE_FAILURES: '1' } });
  const user = await loggedInUser(ctx);
  const del = (password: string) => ctx.app.inject({ method: 'DELETE', url: '/v1/me', headers: user.auth, payload: { password } });
  t.equal((await del('wrong-guess-one')).statusCode, 403);
  t.equal((await del('wrong-guess-two')).statusCode, 403);
  t.equal((await del(user.password)).statusCode, 429);
  t.ok(await ctx.db.selectFrom('users').select('id').where('email', '=', user.email).executeTakeFirst(), 'the account still exists');
});

t.test('the first verification of an address ends sessions opened before it (pre-verification takeover)', async (t) => {
  const ctx = await buildTestApp(t, { env: { REQUIRE_EMAIL_VERIFICATION: 'false' } });
  const email = uniqueEmail('squatted');
  // Someone signs up with an address that is not theirs and logs in (verification not required).
  await ctx.app.inject({ method: 'POST', url: '/v1/signup', payload: { email, password: GOOD_PASSWORD, name: 'Squatter' } });
  const squatter = await login(ctx, email, GOOD_PASSWORD);
  t.equal(squatter.res.statusCode, 200);
  // The owner of the mailbox follows the link.
  const token = await waitForLinkToken(ctx, email, 'verify-email');
  t.equal((await ctx.app.inject({ method: 'POST', url: '/v1/email/verify', payload: { token, password: GOOD_PASSWORD } })).statusCode, 200);
  const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${squatter.body.access_token}` } });
  assertProblem(t, me, 401, 'SESSION_REVOKED', "the squatter's session is over");
  const refresh = await ctx.app.inject({
    method: 'POST',
    url: '/v1/token',
    payload: { grant_type: 'refresh_token', refresh_token: squatter.body.refresh_token },
  });
  t.equal(refresh.statusCode, 400);
});
