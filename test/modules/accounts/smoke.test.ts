import t from 'tap';
import { buildTestApp, loggedInUser } from '../../helpers/app.js';

t.test('a verified user logs in and reads their profile', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await loggedInUser(ctx);
  const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: user.auth });
  t.equal(me.statusCode, 200);
  t.equal(me.json().email, user.email);
  t.equal(me.json().email_verified, true);
});
