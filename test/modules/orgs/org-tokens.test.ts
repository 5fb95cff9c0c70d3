import t from 'tap';
import { buildTestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { bearer, claimsOf, member, orgWithOwner, person, refresh, relogin } from '../../helpers/orgs.js';

/** An org in the access token: login with org_id, refresh, switching, and role changes that take effect at once. */
t.test('org tokens', async (t) => {
  const ctx = await buildTestApp(t);

  t.test('creating an org makes the creator its Owner; a login for it carries org, roles and permissions', async (t) => {
    const { owner, org } = await orgWithOwner(ctx, 'crm', 'Acme Sales');
    t.match(org, { slug: 'acme-sales', plan: 'starter', role_preset: 'crm', your_roles: ['owner'] });
    const plain = claimsOf((await relogin(ctx, owner)).tokens.access_token);
    t.equal(plain.org_id, null, 'no org unless asked for');
    t.same(plain.roles, []);
    // The org's routes take a token for the org.
    const noOrg = await relogin(ctx, owner);
    assertProblem(t, await ctx.app.inject({ method: 'GET', url: `/v1/orgs/${org.id}`, headers: noOrg.auth }), 403, 'ORG_TOKEN_REQUIRED');
    const { tokens } = await relogin(ctx, owner, org.id);
    const claims = claimsOf(tokens.access_token);
    t.equal(claims.org_id, org.id);
    t.same(claims.roles, ['owner']);
    t.ok(claims.permissions.includes('billing:manage') && claims.permissions.includes('members:manage'));
  });

  t.test('a non-member asking for an org gets 403 ORG_ACCESS_DENIED, at login and at refresh', async (t) => {
    const { org } = await orgWithOwner(ctx);
    const stranger = await person(ctx);
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: { email: stranger.email, password: stranger.password, org_id: org.id },
    });
    assertProblem(t, res, 403, 'ORG_ACCESS_DENIED');
    const switched = await refresh(ctx, stranger.tokens.refresh_token, { org_id: org.id });
    assertProblem(t, switched, 403, 'ORG_ACCESS_DENIED');
    // The refusal spent nothing: the refresh token still works.
    const again = await refresh(ctx, stranger.tokens.refresh_token);
    t.equal(again.statusCode, 200, 'the refresh token was not spent by the refused switch');
  });

  t.test('switching org is a refresh with another org_id, in the same session', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const res = await refresh(ctx, owner.tokens.refresh_token, { org_id: org.id });
    t.equal(res.statusCode, 200, res.body);
    const body = res.json();
    t.equal(body.session_id, owner.tokens.session_id, 'same session');
    t.equal(claimsOf(body.access_token).org_id, org.id);
    // A plain refresh keeps the org; null leaves it.
    const kept = (await refresh(ctx, body.refresh_token)).json();
    t.equal(claimsOf(kept.access_token).org_id, org.id, 'a refresh keeps the session org');
    const left = (await refresh(ctx, kept.refresh_token, { org_id: null })).json();
    t.equal(claimsOf(left.access_token).org_id, null, 'org_id null leaves it');
  });

  t.test('a role change refuses the old token at once (TOKEN_STALE); the refreshed token has the new roles', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const { auth: ownerAuth } = await relogin(ctx, owner, org.id);
    const dev = await member(ctx, org.id, ['developer']);
    t.same(claimsOf(dev.tokens.access_token).roles, ['developer']);
    const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: dev.auth });
    t.equal(me.statusCode, 200, 'the token works before');
    const change = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/orgs/${org.id}/members/${dev.id}`,
      headers: ownerAuth,
      payload: { roles: ['auditor'] },
    });
    t.equal(change.statusCode, 200, change.body);
    const stale = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: dev.auth });
    assertProblem(t, stale, 401, 'TOKEN_STALE');
    t.match(stale.headers['www-authenticate'], /invalid_token/);
    const fresh = await refresh(ctx, dev.tokens.refresh_token);
    t.equal(fresh.statusCode, 200, fresh.body);
    const claims = claimsOf(fresh.json().access_token);
    t.same(claims.roles, ['auditor']);
    const after = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(fresh.json().access_token) });
    t.equal(after.statusCode, 200, 'the refreshed token works at once (issued no earlier than the change)');
    // The durable record.
    const rows = await ctx.db
      .selectFrom('revocations')
      .selectAll()
      .where('kind', '=', 'org_member_not_before')
      .where('user_id', '=', dev.id)
      .execute();
    t.equal(rows.length, 1);
    t.equal(rows[0]!.org_id, org.id);
  });

  t.test('cookie mode: a login for an org, and a switch with POST /v1/token/refresh {org_id}', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    type SetCookie = { name: string; value: string };
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: { email: owner.email, password: owner.password, mode: 'cookie', org_id: org.id },
    });
    t.equal(res.statusCode, 200, res.body);
    const cookies = res.cookies as SetCookie[];
    const role = (suffix: string) => cookies.find((c) => c.name.endsWith(suffix))!;
    t.equal(claimsOf(role('tessera_at').value).org_id, org.id, 'the access cookie carries the org');
    const jar = Object.fromEntries(cookies.map((c) => [c.name, c.value]));
    const out = await ctx.app.inject({
      method: 'POST',
      url: '/v1/token/refresh',
      cookies: jar,
      headers: { 'x-csrf-token': res.json().csrf_token },
      payload: { org_id: null },
    });
    t.equal(out.statusCode, 200, out.body);
    const at = (out.cookies as SetCookie[]).find((c) => c.name.endsWith('tessera_at'))!;
    t.equal(claimsOf(at.value).org_id, null, 'switched out of the org');
  });
});
