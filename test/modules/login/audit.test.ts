import t from 'tap';
import { buildTestApp, createVerifiedUser, uniqueEmail } from '../../helpers/app.js';
import { eventually } from '../../helpers/eventually.js';

t.test('failed logins are audited with a reason; refused attempts are not written one by one', async (t) => {
  const ctx = await buildTestApp(t, { env: { LOGIN_ACCOUNT_FREE_FAILURES: '2', LOGIN_THROTTLE_BASE_SECONDS: '60' } });
  const user = await createVerifiedUser(ctx);
  const userId = (await ctx.db.selectFrom('users').select('id').where('email', '=', user.email).executeTakeFirstOrThrow()).id;
  const login = (email: string, password: string) => ctx.app.inject({ method: 'POST', url: '/v1/login', payload: { email, password } });
  await login(uniqueEmail('ghost'), 'whatever-password-1');
  for (let i = 0; i < 3; i++) await login(user.email, `wrong-password-${i}`);
  for (let i = 0; i < 5; i++) t.equal((await login(user.email, user.password)).statusCode, 429, 'locked');

  const rows = await eventually(async () => {
    const all = await ctx.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', 'in', ['session.login_failed', 'session.login_throttled'])
      .orderBy('seq')
      .execute();
    return all.length >= 5 && all;
  });
  const failed = rows.filter((r) => r.action === 'session.login_failed');
  t.same(
    failed.map((r) => [r.actor_id, r.data.reason]),
    [
      [null, 'unknown_account'],
      [userId, 'wrong_password'],
      [userId, 'wrong_password'],
      [userId, 'wrong_password'],
    ],
    'each failure, with its reason and the account when there is one',
  );
  t.ok(
    failed.every((r) => r.ip === '127.0.0.1'),
    'with the client address',
  );
  const locks = rows.filter((r) => r.action === 'session.login_throttled');
  t.same(
    locks.map((r) => [r.actor_id, r.data.scope, r.data.seconds]),
    [[userId, 'account_client', 60]],
    'the lockout is one event when it starts, not one per refused attempt',
  );
});
