import t from 'tap';
import { buildTestApp, createVerifiedUser, login } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { userByEmail } from './support.js';
import { refresh } from '../tokens/forge.js';

t.test('DELETE /v1/me with a wrong password gets 403 INVALID_PASSWORD and deletes nothing', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await createVerifiedUser(ctx);
  const { body } = await login(ctx, user.email, user.password);
  const auth = { authorization: `Bearer ${body.access_token}` };
  const res = await ctx.app.inject({ method: 'DELETE', url: '/v1/me', headers: auth, payload: { password: 'not-my-password-at-all' } });
  assertProblem(t, res, 403, 'INVALID_PASSWORD');
  t.ok(await userByEmail(ctx, user.email), 'the account is still there');
  t.equal((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: auth })).statusCode, 200, 'the session still works');
  const missing = await ctx.app.inject({ method: 'DELETE', url: '/v1/me', headers: auth, payload: {} });
  assertProblem(t, missing, 400, 'VALIDATION_FAILED');
  t.ok(await userByEmail(ctx, user.email), 'still there without a password');
});

t.test(
  'DELETE /v1/me with the password: 204, the account, sessions and refresh tokens are gone, the pseudonymous audit trail stays',
  async (t) => {
    const ctx = await buildTestApp(t);
    const user = await createVerifiedUser(ctx, { name: 'Delete Me' });
    const other = await createVerifiedUser(ctx);
    const a = (await login(ctx, user.email, user.password)).body;
    const b = (await login(ctx, user.email, user.password)).body;
    const keep = (await login(ctx, other.email, other.password)).body;
    const userId = (await userByEmail(ctx, user.email))!.id;
    const sids = [a.session_id, b.session_id];
    t.ok(
      (await ctx.db.selectFrom('refresh_tokens').select('session_id').where('session_id', 'in', sids).execute()).length >= 2,
      'refresh tokens exist before',
    );

    const res = await ctx.app.inject({
      method: 'DELETE',
      url: '/v1/me',
      headers: { authorization: `Bearer ${a.access_token}` },
      payload: { password: user.password },
    });
    t.equal(res.statusCode, 204, res.body);
    t.equal(res.body, '');

    t.notOk(await userByEmail(ctx, user.email), 'the users row is gone');
    t.same(await ctx.db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute(), [], 'sessions gone');
    t.same(
      await ctx.db.selectFrom('refresh_tokens').select('session_id').where('session_id', 'in', sids).execute(),
      [],
      'refresh tokens gone',
    );
    t.same(await ctx.db.selectFrom('email_tokens').select('user_id').where('user_id', '=', userId).execute(), [], 'email links gone');

    for (const pair of [a, b]) {
      const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${pair.access_token}` } });
      t.equal(me.statusCode, 401, `old access token of session ${pair.session_id} gets 401 (${me.json().code})`);
      assertProblem(t, (await refresh(ctx, pair.refresh_token)).res, 400, 'INVALID_GRANT');
    }
    assertProblem(t, (await login(ctx, user.email, user.password)).res, 401, 'INVALID_CREDENTIALS');

    const events = await ctx.db.selectFrom('audit_events').selectAll().where('action', '=', 'account.deleted').execute();
    t.equal(events.length, 1, 'one account.deleted event');
    const event = events[0]!;
    t.equal(event.actor_id, userId, 'actor_id is the old user id');
    const serialized = JSON.stringify(event.data).toLowerCase();
    t.notOk(serialized.includes(user.email.toLowerCase()), `data holds no email: ${serialized}`);
    t.notOk(serialized.includes('delete me'), 'nor the name');
    const trail = await ctx.db.selectFrom('audit_events').selectAll().where('actor_id', '=', userId).execute();
    t.ok(trail.length >= 3, 'the earlier events of that user are kept too');
    t.notOk(
      trail.some((e) => JSON.stringify(e).toLowerCase().includes(user.email.toLowerCase())),
      'no event of the trail carries the email',
    );

    t.equal(
      (await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${keep.access_token}` } })).statusCode,
      200,
      'another user is unaffected',
    );

    const again = await ctx.app.inject({
      method: 'POST',
      url: '/v1/signup',
      payload: { email: user.email, password: user.password, name: 'Back' },
    });
    t.equal(again.statusCode, 202, 'the address can sign up again');
    t.not((await userByEmail(ctx, user.email))?.id, userId, 'as a new account');
  },
);
