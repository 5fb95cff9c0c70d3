import t from 'tap';
import { buildTestApp, GOOD_PASSWORD, loggedInUser, uniqueEmail } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { countUsers, mailsTo, userByEmail } from './support.js';

const ctx = await buildTestApp(t);

t.test(
  'signup with role, email_verified or org_id is rejected with 400 VALIDATION_FAILED listing the field, and writes no row',
  async (t) => {
    const extras: Array<Record<string, unknown>> = [
      { role: 'admin' },
      { email_verified: true },
      { org_id: '00000000-0000-4000-8000-000000000001' },
      { role: 'owner', email_verified: true, org_id: '00000000-0000-4000-8000-000000000001', roles: ['Owner'] },
    ];
    for (const extra of extras) {
      await t.test(Object.keys(extra).join(', '), async (t) => {
        const before = await countUsers(ctx);
        const email = uniqueEmail();
        const res = await ctx.app.inject({
          method: 'POST',
          url: '/v1/signup',
          payload: { email, password: GOOD_PASSWORD, name: 'Sneaky', ...extra },
        });
        const body = assertProblem(t, res, 400, 'VALIDATION_FAILED');
        const fields = (body.errors ?? []).map((e) => e.field).sort();
        t.same(fields, Object.keys(extra).sort(), `every extra field is listed: ${JSON.stringify(body.errors)}`);
        for (const k of Object.keys(extra)) t.match(body.detail, k, `detail names ${k}`);
        t.equal(await countUsers(ctx), before, 'no row written');
        t.notOk(await userByEmail(ctx, email));
        t.same(await mailsTo(ctx, email), [], 'no mail sent');
      });
    }
  },
);

t.test('PATCH /v1/me with email_verified or email is rejected with 400 and changes nothing', async (t) => {
  const u = await loggedInUser(ctx);
  const before = await userByEmail(ctx, u.email);
  const attempts: Array<Record<string, unknown>> = [
    { email_verified: false },
    { email: uniqueEmail('takeover') },
    { name: 'Renamed', email: uniqueEmail('takeover') },
    { name: 'Renamed', role: 'admin' },
    { id: '00000000-0000-4000-8000-000000000002' },
    { password_hash: 'x' },
  ];
  for (const payload of attempts) {
    await t.test(JSON.stringify(payload), async (t) => {
      const res = await ctx.app.inject({ method: 'PATCH', url: '/v1/me', headers: u.auth, payload });
      const body = assertProblem(t, res, 400, 'VALIDATION_FAILED');
      const unknown = Object.keys(payload).filter((k) => k !== 'name');
      const listed = (body.errors ?? []).filter((e) => e.message === 'Unknown field').map((e) => e.field);
      t.same(listed.sort(), unknown.sort(), `the forbidden fields are listed: ${JSON.stringify(body.errors)}`);
      t.same(await userByEmail(ctx, u.email), before, 'the row is unchanged (not even the allowed name)');
    });
  }
  const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: u.auth });
  t.equal(me.json().email, u.email);
  t.equal(me.json().email_verified, true);
  t.equal(me.json().name, 'Test User');
});
