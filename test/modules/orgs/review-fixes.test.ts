import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { bearer, claimsOf, member, orgWithOwner } from '../../helpers/orgs.js';

/** Findings of the security review, each reproduced here before it was fixed. */

t.test(
  'more concurrent org changes than the pool has connections all complete (no transaction waits on a second connection)',
  async (t) => {
    const ctx = await buildTestApp(t, { env: { DATABASE_POOL_SIZE: '4' } });
    const { owner, org } = await orgWithOwner(ctx);
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        ctx.app.inject({
          method: 'PATCH',
          url: `/v1/orgs/${org.id}`,
          headers: owner.auth,
          payload: { name: `Renamed ${i}`, security_policy: { session_idle_ttl: 3600 } },
        }),
      ),
    );
    t.same(
      results.map((r) => r.statusCode),
      Array(12).fill(200),
    );
    t.ok(Date.now() - started < 8000, 'no request waited for a connection timeout');
    const list = await ctx.app.inject({ method: 'GET', url: '/v1/orgs', headers: owner.auth });
    t.equal(list.statusCode, 200);
  },
);

t.test('a token built from roles read before a change is refused even when signed after it (the roles version, not iat)', async (t) => {
  const ctx = await buildTestApp(t);
  const { owner, org } = await orgWithOwner(ctx);
  const dev = await member(ctx, org.id, ['developer']);
  // A refresh that read the member's roles just before the change...
  const before = await ctx.services.orgAccess.grant({ userId: dev.id, orgId: org.id, aal: 1, method: null });
  const change = await ctx.app.inject({
    method: 'PATCH',
    url: `/v1/orgs/${org.id}/members/${dev.id}`,
    headers: owner.auth,
    payload: { roles: ['auditor'] },
  });
  t.equal(change.statusCode, 200, change.body);
  // ...and signs its token once the change's second is over (its iat is no earlier than the not-before).
  await sleep(2200);
  const late = await ctx.services.sessions.start({
    userId: dev.id,
    orgId: org.id,
    grant: before,
    amr: ['pwd'],
    aal: 1,
    context: { ip: '127.0.0.1', userAgent: null },
  });
  const claims = claimsOf(late.access_token);
  t.same(claims.roles, ['developer'], 'the old roles');
  assertProblem(t, await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(late.access_token) }), 401, 'TOKEN_STALE');
});
