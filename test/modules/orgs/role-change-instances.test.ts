import t from 'tap';
import { redisUrl, type TestApp } from '../../helpers/app.js';
import { deployment } from '../../helpers/instances.js';
import { assertProblem } from '../../helpers/problem.js';
import { bearer, call, claimsOf, member, orgWithOwner, refresh, relogin } from '../../helpers/orgs.js';

/**
 * Role changes across instances: two app instances on one database and one Redis (as in
 * production). A change made through one is enforced by the other at once (the member's old
 * access token is TOKEN_STALE there, a removed member's session is over there); the token
 * refreshed on one carries the new roles and is accepted by the other; and when Redis loses the
 * marks, an instance starting up restores them from the revocations table.
 */

if (!redisUrl()) {
  t.test('role changes across instances', { skip: 'no Redis' }, async () => undefined);
} else {
  const { raw, keys: deploymentKeys, instance } = deployment(t, redisUrl()!);
  const a = await instance();
  const b = await instance();

  const me = (ctx: TestApp, token: string) => call(ctx, 'GET', '/v1/me', bearer(token));

  // The org and its people, all set up through instance A.
  const { owner, org } = await orgWithOwner(a, 'compliance', 'Two Instances Org');
  const { auth: ownerAuth } = await relogin(a, owner, org.id);
  const dev = await member(a, org.id, ['developer'], 'Dev Eloper');
  const leaver = await member(a, org.id, ['auditor'], 'Aud Itor');
  // What the tests below leave behind for the reload test.
  const stale: { devOld?: string; devNew?: string; leaverOld?: string } = {};

  t.test(
    'a role change made on A: the old token is refused on B at once; the token refreshed on B has the new roles and works on A',
    async (t) => {
      t.equal((await me(b, dev.tokens.access_token)).statusCode, 200, "A's token works on B");
      // B issues a token for the member first (it may remember their access from now on).
      const warm = await refresh(b, dev.tokens.refresh_token);
      t.equal(warm.statusCode, 200, warm.body);
      t.same(claimsOf(warm.json().access_token).roles, ['developer']);
      const old = warm.json() as { access_token: string; refresh_token: string };

      const change = await call(a, 'PATCH', `/v1/orgs/${org.id}/members/${dev.id}`, ownerAuth, { roles: ['auditor'] });
      t.equal(change.statusCode, 200, change.body);

      for (const [name, ctx] of [
        ['B', b],
        ['A', a],
      ] as const) {
        const res = await me(ctx, old.access_token);
        assertProblem(t, res, 401, 'TOKEN_STALE', `the old token on ${name}`);
      }
      assertProblem(t, await call(b, 'GET', `/v1/orgs/${org.id}`, bearer(old.access_token)), 401, 'TOKEN_STALE', 'an org route on B');

      const fresh = await refresh(b, old.refresh_token);
      t.equal(fresh.statusCode, 200, fresh.body);
      const token = fresh.json().access_token as string;
      t.same(claimsOf(token).roles, ['auditor'], 'the token refreshed on B carries the new roles');
      t.same(claimsOf(token).permissions, ['audit:read', 'compliance:read', 'reports:read']);
      t.equal((await me(a, token)).statusCode, 200, 'and is accepted on A');
      const view = await call(a, 'GET', `/v1/orgs/${org.id}`, bearer(token));
      t.equal(view.statusCode, 200, view.body);
      t.same(view.json().your_roles, ['auditor'], 'A sees the new roles');
      stale.devOld = old.access_token;
      stale.devNew = token;
    },
  );

  t.test('a member removed on A: their session is over on B at once, and refreshing there fails', async (t) => {
    const warm = await refresh(b, leaver.tokens.refresh_token);
    t.equal(warm.statusCode, 200, warm.body);
    const tokens = warm.json() as { access_token: string; refresh_token: string };
    t.equal((await me(b, tokens.access_token)).statusCode, 200);

    const removal = await call(a, 'DELETE', `/v1/orgs/${org.id}/members/${leaver.id}`, ownerAuth);
    t.equal(removal.statusCode, 204, removal.body);

    for (const [name, ctx] of [
      ['B', b],
      ['A', a],
    ] as const) {
      const res = await me(ctx, tokens.access_token);
      t.equal(res.statusCode, 401, `refused on ${name}`);
      t.match(res.json().code, /^(SESSION_REVOKED|TOKEN_STALE)$/, `${name}: ${res.json().code}`);
    }
    const again = await refresh(b, tokens.refresh_token);
    t.equal(again.statusCode, 400, `refreshing on B fails (${again.body.slice(0, 160)})`);
    t.equal(again.json().code, 'INVALID_GRANT');
    const switched = await refresh(b, tokens.refresh_token, { org_id: org.id });
    t.ok(switched.statusCode >= 400, 'nor can the session be switched back into the org');
    stale.leaverOld = tokens.access_token;
  });

  t.test('Redis loses the marks: an instance starting up restores them from the revocations table', async (t) => {
    if (!stale.devOld || !stale.devNew || !stale.leaverOld) return t.fail('the tests above left no tokens');
    const keys = await deploymentKeys();
    t.ok(
      keys.some((k) => k.includes(':onb:')) && keys.some((k) => k.includes(':sid:')),
      `member and session marks were in Redis (${keys.length} keys)`,
    );
    await raw.del(...keys);
    // What was lost: with no marks, the tokens pass (this is what the reload must repair).
    t.equal((await me(b, stale.devOld)).statusCode, 200, 'with the marks gone the stale token passes');
    t.equal((await me(b, stale.leaverOld)).statusCode, 200, "and so does the removed member's");

    const c = await instance();
    for (const [name, ctx] of [
      ['A', a],
      ['B', b],
      ['C', c],
    ] as const) {
      assertProblem(t, await me(ctx, stale.devOld), 401, 'TOKEN_STALE', `the pre-change token on ${name}`);
      assertProblem(t, await me(ctx, stale.leaverOld), 401, 'SESSION_REVOKED', `the removed member's token on ${name}`);
      t.equal((await me(ctx, stale.devNew)).statusCode, 200, `the token with the new roles still works on ${name}`);
    }
  });
}
