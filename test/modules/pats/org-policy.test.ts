import t from 'tap';
import { buildTestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { joinOrg, person, relogin } from '../../helpers/orgs.js';
import { createPat, exchange } from '../../helpers/pats.js';
import { manualClock, orgOfTotpOwner, setPolicy } from '../mfa/flow-support.js';

/**
 * Personal access tokens of an org that requires a second factor. A PAT proves no factor when it
 * is used, but it was made after a recent authentication: it works while its owner meets the
 * policy (an allowed factor enrolled), and stops when they are out of it past the grace period,
 * as their sessions do.
 */
t.test('PATs under an org policy that requires MFA', async (t) => {
  const clock = manualClock();
  const ctx = await buildTestApp(t, { clock });

  // An Owner with an authenticator app (their session is aal 2) and an org that will require a factor.
  const { owner, org } = await orgOfTotpOwner(ctx, clock, 'Strict Org');
  const ownerAuth = owner.auth;

  // A Developer without any factor, who made a PAT before the policy was switched on.
  const dev = await person(ctx, { name: 'Dev Nofactor' });
  await joinOrg(ctx, org.id, dev.id, ['developer'], new Date(clock.now().getTime() - 3600_000));
  const devPat = await createPat(ctx, (await relogin(ctx, dev, org.id)).auth, { org_id: org.id, scopes: ['tokens:introspect'] });
  t.equal((await exchange(ctx, devPat.token)).statusCode, 200, 'before the policy the developer\u2019s PAT works');

  const policy = await setPolicy(ctx, ownerAuth, org.id, { require_mfa: true, enrollment_grace_days: 0 });
  t.equal(policy.statusCode, 200, policy.body);

  t.test('the Owner, who has a factor, makes a PAT and exchanges it', async (t) => {
    const pat = await createPat(ctx, ownerAuth, { org_id: org.id, scopes: ['api:manage'] });
    const res = await exchange(ctx, pat.token);
    t.equal(res.statusCode, 200, res.body);
    const claims = JSON.parse(Buffer.from(res.json().access_token.split('.')[1], 'base64url').toString());
    t.match(claims, { org_id: org.id, permissions: ['api:manage'], amr: ['pat'] });
  });

  t.test('the factorless developer, past the grace period, can no longer exchange theirs', async (t) => {
    assertProblem(t, await exchange(ctx, devPat.token), 400, 'INVALID_GRANT');
    const introspected = await ctx.app.inject({
      method: 'POST',
      url: '/v1/introspect',
      headers: { authorization: `Bearer ${(await createPat(ctx, ownerAuth, { org_id: org.id, scopes: ['tokens:introspect'] })).token}` },
      payload: { token: devPat.token },
    });
    t.equal(introspected.statusCode, 200);
    t.same(introspected.json(), { active: false }, 'introspection says the same');
  });
});
