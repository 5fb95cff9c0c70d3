import t from 'tap';
import { buildTestApp, login } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { bearer, claimsOf, joinOrg, person, refresh, switchTo } from '../../helpers/orgs.js';
import { manualClock, nextTotp, orgOfTotpOwner, secondStep, setPolicy, userWithTotp, type ManualClock } from '../mfa/flow-support.js';
import type { TestApp } from '../../helpers/app.js';

/**
 * The org security policy: require_mfa with a grace period, allowed factors, session lifetimes;
 * and that an Owner cannot switch on a policy their own account does not meet.
 */
const DAY = 86_400;
// Members in these tests joined before the policy changed: their grace runs from the change.
const longAgo = (clock: ManualClock) => new Date(clock.now().getTime() - 3600_000);

/** The owner's session was lifted to aal 2 when their app was confirmed; a refresh puts it in the token. */
async function aal2Auth(ctx: TestApp, tokens: { refresh_token: string }) {
  const res = await refresh(ctx, tokens.refresh_token);
  if (res.statusCode !== 200) throw new Error(res.body);
  return bearer(res.json().access_token);
}

t.test('org security policy', async (t) => {
  const clock = manualClock();
  const ctx = await buildTestApp(t, { clock });

  t.test('an Owner cannot require a factor their own account lacks (POLICY_LOCKOUT); nothing changes', async (t) => {
    const owner = await person(ctx);
    const org = (await ctx.app.inject({ method: 'POST', url: '/v1/orgs', headers: owner.auth, payload: { name: 'No MFA Org' } })).json();
    const res = await setPolicy(ctx, await switchTo(ctx, owner.tokens, org.id), org.id, { require_mfa: true });
    assertProblem(t, res, 409, 'POLICY_LOCKOUT');
    const after = await ctx.db.selectFrom('orgs').select('security_policy').where('id', '=', org.id).executeTakeFirstOrThrow();
    t.same(after.security_policy, {}, 'the policy is unchanged');
  });

  t.test('require_mfa: factorless members log in during the grace period, then are sent to enrolment', async (t) => {
    const { owner, org } = await orgOfTotpOwner(ctx, clock);
    const set = await setPolicy(ctx, owner.auth, org.id, { require_mfa: true, enrollment_grace_days: 3 });
    t.equal(set.statusCode, 200, set.body);
    t.match(set.json().security_policy, { require_mfa: true, enrollment_grace_days: 3 });

    const m = await person(ctx, { name: 'No Factor' });
    await joinOrg(ctx, org.id, m.id, ['developer'], longAgo(clock));
    const during = await login(ctx, m.email, m.password, { org_id: org.id });
    t.equal(during.body.status, 'authenticated', 'within the grace period: the account rule (password alone)');
    t.equal(claimsOf(during.body.access_token).org_id, org.id);

    // The team list shows who is out of policy.
    const team = await ctx.app.inject({ method: 'GET', url: `/v1/orgs/${org.id}/members`, headers: owner.auth });
    const row = team.json().members.find((r: { user_id: string }) => r.user_id === m.id);
    t.match(row, { mfa_enabled: false, meets_policy: false });

    clock.advance(3 * DAY - 60);
    const stillIn = await login(ctx, m.email, m.password, { org_id: org.id });
    t.equal(stillIn.body.status, 'authenticated', 'a minute before the end: still in grace');
    clock.advance(61);
    const after = await login(ctx, m.email, m.password, { org_id: org.id });
    t.equal(after.res.statusCode, 200);
    t.equal(after.body.status, 'mfa_enrollment_required', 'after the grace period: enrol first');
    t.same(after.body.methods.sort(), ['sms', 'totp', 'webauthn']);
    t.type(after.body.mfa_token, 'string');
    t.notOk(after.body.access_token, 'no tokens');
    // The enrolment token is not a second-step token.
    const misuse = await secondStep(ctx, after.body.mfa_token, 'totp', '123456');
    t.not(misuse.statusCode, 200, 'the enrolment token cannot complete a login with a code');

    // Without the org, the account's own rule applies.
    const plain = await login(ctx, m.email, m.password);
    t.equal(plain.body.status, 'authenticated');
    // An aal1 session cannot move into the org, nor keep refreshing in it.
    assertProblem(t, await refresh(ctx, plain.body.refresh_token, { org_id: org.id }), 403, 'ORG_MFA_REQUIRED');
    assertProblem(t, await refresh(ctx, stillIn.body.refresh_token), 403, 'ORG_MFA_REQUIRED', 'the org session from the grace period');
    // Nor reach the org's routes with the org token it got during the grace period.
    const view = await ctx.app.inject({ method: 'GET', url: `/v1/orgs/${org.id}`, headers: bearer(stillIn.body.access_token) });
    assertProblem(t, view, 403, 'ORG_MFA_REQUIRED');
    // The refused refreshes spent nothing: the session can still go on without the org.
    const out = await refresh(ctx, plain.body.refresh_token);
    t.equal(out.statusCode, 200, 'the refresh token survived the refusal');
  });

  t.test('members with a factor take the second step; allowed factors exclude the others', async (t) => {
    const { owner, org } = await orgOfTotpOwner(ctx, clock);
    const m = await userWithTotp(ctx, clock);
    await joinOrg(ctx, org.id, m.id, ['developer'], longAgo(clock));

    // TOTP only, no backup codes: the second step offers the app alone.
    const set = await setPolicy(ctx, owner.auth, org.id, { require_mfa: true, allowed_factors: ['totp'], enrollment_grace_days: 0 });
    t.equal(set.statusCode, 200, set.body);
    const first = await login(ctx, m.email, m.password, { org_id: org.id });
    t.equal(first.body.status, 'mfa_required');
    t.same(first.body.methods, ['totp']);
    assertProblem(t, await secondStep(ctx, first.body.mfa_token, 'backup_code', m.backupCodes[0]!), 400, 'MFA_METHOD_UNAVAILABLE');
    const done = await secondStep(ctx, first.body.mfa_token, 'totp', nextTotp(m.secret, clock));
    t.equal(done.statusCode, 200, done.body);
    const claims = claimsOf(done.json().access_token);
    t.equal(claims.org_id, org.id);
    t.equal(claims.aal, 2);
    t.same(claims.roles, ['developer']);
    // Without the org, backup codes are still the account's...
    const plain = await login(ctx, m.email, m.password);
    t.ok(plain.body.methods.includes('backup_code'));
    // ...but a session proved with one cannot switch into the org, nor its org-less token reach the org's routes.
    const viaCode = await secondStep(ctx, plain.body.mfa_token, 'backup_code', m.backupCodes[1]!);
    t.equal(viaCode.statusCode, 200, viaCode.body);
    assertProblem(t, await refresh(ctx, viaCode.json().refresh_token, { org_id: org.id }), 403, 'ORG_FACTOR_NOT_ALLOWED');
    assertProblem(
      t,
      await ctx.app.inject({ method: 'GET', url: `/v1/orgs/${org.id}/members`, headers: bearer(viaCode.json().access_token) }),
      403,
      'ORG_TOKEN_REQUIRED',
    );

    // WebAuthn only: the TOTP member is out of policy and must enrol a key.
    // The Owner is held to the policy too: an aal2 token of theirs, from a TOTP session, reaches the org.
    const ownerAal2 = await aal2Auth(ctx, owner.tokens);
    t.equal((await ctx.app.inject({ method: 'GET', url: `/v1/orgs/${org.id}`, headers: ownerAal2 })).statusCode, 200);
    // The owner has TOTP only: requiring WebAuthn would lock them out.
    assertProblem(t, await setPolicy(ctx, ownerAal2, org.id, { allowed_factors: ['webauthn'] }), 409, 'POLICY_LOCKOUT');
  });

  t.test('allowed factors tightened: a member whose factors are none the org allows adds one outside the org first', async (t) => {
    const { org } = await orgOfTotpOwner(ctx, clock);
    const m = await userWithTotp(ctx, clock);
    await joinOrg(ctx, org.id, m.id, ['developer'], longAgo(clock));
    // A WebAuthn/SMS-only org (set in the database: the TOTP owner could not set it without locking themselves out).
    await ctx.db
      .updateTable('orgs')
      .set({
        security_policy: JSON.stringify({ require_mfa: true, allowed_factors: ['webauthn', 'sms'], enrollment_grace_days: 0 }),
        mfa_required_since: clock.now(),
      })
      .where('id', '=', org.id)
      .execute();
    ctx.services.orgAccess.forgetOrg(org.id);
    const res = await login(ctx, m.email, m.password, { org_id: org.id });
    // Not an enrolment on the password alone: the account has a second factor of its own.
    const problem = assertProblem(t, res.res, 403, 'ORG_FACTOR_NOT_ALLOWED');
    t.same([...(problem.methods as string[])].sort(), ['sms', 'webauthn']);
    const plain = await login(ctx, m.email, m.password);
    t.equal(plain.body.status, 'mfa_required', 'without the org, the account signs in with its own factor');
  });

  t.test('session lifetimes: the org shortens the absolute and idle limits', async (t) => {
    const { owner, org } = await orgOfTotpOwner(ctx, clock);
    const set = await setPolicy(ctx, owner.auth, org.id, { session_absolute_ttl: 3600, session_idle_ttl: 900 });
    t.equal(set.statusCode, 200, set.body);
    const m = await person(ctx);
    await joinOrg(ctx, org.id, m.id, ['developer'], longAgo(clock));
    const first = await login(ctx, m.email, m.password, { org_id: org.id });
    t.equal(first.body.refresh_expires_in, 3600, 'the absolute limit');
    // Idle: 15 minutes without a refresh end the session.
    clock.advance(901);
    assertProblem(t, await refresh(ctx, first.body.refresh_token), 400, 'INVALID_GRANT', 'idle too long');
    // Absolute: refreshed every 10 minutes, the session still ends an hour after login.
    const second = await login(ctx, m.email, m.password, { org_id: org.id });
    let token = second.body.refresh_token as string;
    for (let i = 0; i < 5; i++) {
      clock.advance(600);
      const r = await refresh(ctx, token);
      t.equal(r.statusCode, 200, `refresh ${i + 1}`);
      token = r.json().refresh_token;
    }
    clock.advance(601);
    assertProblem(t, await refresh(ctx, token), 400, 'INVALID_GRANT', 'past the absolute limit');
    // Switching into the org shortens a session that started elsewhere.
    const outside = await login(ctx, m.email, m.password);
    t.equal(outside.body.refresh_expires_in, 43200);
    const moved = await refresh(ctx, outside.body.refresh_token, { org_id: org.id });
    t.equal(moved.statusCode, 200, moved.body);
    t.ok(moved.json().refresh_expires_in <= 3600, 'the org limit applies after the switch');
  });
});

t.test('a member cannot remove the last factor an org requires of them (LAST_FACTOR_REQUIRED)', async (t) => {
  const clock = manualClock();
  const ctx = await buildTestApp(t, { clock });
  const { owner, org } = await orgOfTotpOwner(ctx, clock);
  const set = await setPolicy(ctx, owner.auth, org.id, { require_mfa: true, enrollment_grace_days: 0 });
  t.equal(set.statusCode, 200, set.body);
  // The owner's session is fresh at aal 2 (the app was just confirmed): step-up passes.
  const res = await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/totp', headers: owner.auth });
  assertProblem(t, res, 409, 'LAST_FACTOR_REQUIRED');
  const left = await ctx.db
    .selectFrom('mfa_factors')
    .select('id')
    .where('user_id', '=', owner.id)
    .where('confirmed_at', 'is not', null)
    .execute();
  t.equal(left.length, 1, 'the factor is still there');
  // Without the requirement it goes.
  const off = await setPolicy(ctx, owner.auth, org.id, { require_mfa: false });
  t.equal(off.statusCode, 200, off.body);
  const removed = await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/totp', headers: owner.auth });
  t.equal(removed.statusCode, 204, removed.body);
});
