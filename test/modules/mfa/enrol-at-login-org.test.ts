/**
 * Setting up a factor during a login, end to end: an org requires a second factor, a member
 * without one signs in to it (POST /v1/login answers mfa_enrollment_required), sets up an
 * authenticator app with that token, and the confirmation opens an aal2 session in the org.
 */
import t from 'tap';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import { buildTestApp, login } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { claimsOf, joinOrg, person } from '../../helpers/orgs.js';
import { manualClock, orgOfTotpOwner, setPolicy } from './flow-support.js';

t.test('a member sent to enrolment sets up an app and is signed in to the org at aal 2', async (t) => {
  const clock = manualClock();
  const ctx = await buildTestApp(t, { clock });
  const { owner, org } = await orgOfTotpOwner(ctx, clock, 'Enrol Org');
  const ownerAuth = owner.auth;
  const policy = await setPolicy(ctx, ownerAuth, org.id, { require_mfa: true, enrollment_grace_days: 0 });
  t.equal(policy.statusCode, 200, policy.body);

  const m = await person(ctx, { name: 'New Member' });
  await joinOrg(ctx, org.id, m.id, ['developer'], new Date(clock.now().getTime() - 3600_000));
  const first = await login(ctx, m.email, m.password, { org_id: org.id });
  t.equal(first.body.status, 'mfa_enrollment_required', first.res.body);
  const token = first.body.mfa_token as string;

  const setup = await ctx.app.inject({ method: 'POST', url: '/v1/login/mfa/enroll/totp', payload: { mfa_token: token } });
  t.equal(setup.statusCode, 200, setup.body);
  const code = totpCode(setup.json().secret, clock.nowSeconds());
  const done = await ctx.app.inject({ method: 'POST', url: '/v1/login/mfa/enroll/totp/confirm', payload: { mfa_token: token, code } });
  t.equal(done.statusCode, 200, done.body);
  const body = done.json();
  t.equal(body.backup_codes.length, 10);
  t.match(claimsOf(body.access_token), { org_id: org.id, aal: 2, amr: ['pwd', 'otp'], sub: m.id });
  const session = await ctx.db.selectFrom('sessions').select(['org_id', 'aal']).where('id', '=', body.session_id).executeTakeFirstOrThrow();
  t.same(session, { org_id: org.id, aal: 2 });

  assertProblem(
    t,
    await ctx.app.inject({ method: 'POST', url: '/v1/login/mfa/enroll/totp/confirm', payload: { mfa_token: token, code } }),
    401,
    'MFA_TOKEN_INVALID',
  );
  const next = await login(ctx, m.email, m.password, { org_id: org.id });
  t.equal(next.body.status, 'mfa_required', 'the next login to the org takes the second step');
});
