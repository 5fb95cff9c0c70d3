import t from 'tap';
import { buildTestApp, createVerifiedUser, login, loggedInUser, waitForLinkToken, type TestApp } from '../../helpers/app.js';
import { eventually } from '../../helpers/eventually.js';
import { assertProblem } from '../../helpers/problem.js';
import { userByEmail } from './support.js';

/** A reset link issued before the password changed must not undo the change. */

const CHANGED = 'changed-after-the-request-3';
const LATE = 'set-through-an-old-link-6';

const forgot = (ctx: TestApp, email: string) => ctx.app.inject({ method: 'POST', url: '/v1/password/forgot', payload: { email } });
const reset = (ctx: TestApp, token: string, password: string) =>
  ctx.app.inject({ method: 'POST', url: '/v1/password/reset', payload: { token, password } });

t.test('changing the password voids a reset link requested before: 400 INVALID_EMAIL_TOKEN', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await loggedInUser(ctx);
  t.equal((await forgot(ctx, user.email)).statusCode, 202);
  const token = await waitForLinkToken(ctx, user.email, 'reset-password');

  const change = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/password',
    headers: user.auth,
    payload: { current_password: user.password, new_password: CHANGED },
  });
  t.equal(change.statusCode, 200, change.body);
  const hashAfterChange = (await userByEmail(ctx, user.email))!.password_hash;

  assertProblem(t, await reset(ctx, token, LATE), 400, 'INVALID_EMAIL_TOKEN', 'the old reset link');
  t.equal((await userByEmail(ctx, user.email))!.password_hash, hashAfterChange, 'the password is still the changed one');
  assertProblem(t, (await login(ctx, user.email, LATE)).res, 401, 'INVALID_CREDENTIALS', 'the password sent with the old link');
  t.equal((await login(ctx, user.email, CHANGED)).res.statusCode, 200, 'the changed password logs in');
  const outstanding = await ctx.db
    .selectFrom('email_tokens')
    .select('token_hash')
    .where('purpose', '=', 'reset_password')
    .where('used_at', 'is', null)
    .execute();
  t.equal(outstanding.length, 0, 'no reset link is outstanding');

  t.equal((await forgot(ctx, user.email)).statusCode, 202);
  // Mail goes out after the response: wait for a link that is not the first one.
  const fresh = await eventually(async () => {
    const next = await waitForLinkToken(ctx, user.email, 'reset-password');
    return next !== token && next;
  });
  t.equal((await reset(ctx, fresh, LATE)).statusCode, 200, 'a link asked for after the change works');
});

t.test('completing a reset voids every outstanding link of the user, and is itself single-use', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await createVerifiedUser(ctx);
  await forgot(ctx, user.email);
  const token = await waitForLinkToken(ctx, user.email, 'reset-password');
  t.equal((await reset(ctx, token, CHANGED)).statusCode, 200);
  assertProblem(t, await reset(ctx, token, LATE), 400, 'INVALID_EMAIL_TOKEN', 'the spent link');
  const userId = (await userByEmail(ctx, user.email))!.id;
  const outstanding = await ctx.db
    .selectFrom('email_tokens')
    .select('purpose')
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .execute();
  t.same(outstanding, [], 'no link of any purpose is outstanding');
  t.equal((await login(ctx, user.email, CHANGED)).res.statusCode, 200);
});
