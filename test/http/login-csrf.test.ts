import t from 'tap';
import { buildTestApp, createVerifiedUser } from '../helpers/app.js';
import { assertProblem } from '../helpers/problem.js';

t.test('a form-encoded login (what a cross-site <form> can send) is refused with 415', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await createVerifiedUser(ctx);
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ email: user.email, password: user.password, mode: 'cookie' }).toString(),
  });
  assertProblem(t, res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  t.notOk(res.headers['set-cookie'], 'no cookie is set');
  const sessions = await ctx.db.selectFrom('sessions').select('id').execute();
  t.equal(sessions.length, 0, 'no session was created');
});
