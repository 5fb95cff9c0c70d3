import t from 'tap';
import { buildTestApp, login } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { agencyWithClient, bearer, claimsOf, member, refresh, relogin } from '../../helpers/orgs.js';

/** Agencies: client orgs they create and manage, and the agency's resellers acting in them without being members. */
t.test('agency clients', async (t) => {
  const ctx = await buildTestApp(t);
  const { owner, agency, reseller, client } = await agencyWithClient(ctx);
  const ownerAuth = owner.auth;
  const developer = await member(ctx, agency.id, ['developer'], 'Dev Eloper');
  t.equal(client.managed_by, agency.id);
  t.notOk(client.agency_permissions.includes('billing:manage'), 'no billing for the agency');
  t.notOk(client.agency_permissions.includes('org:delete'), 'nor deletion');
  t.ok(client.agency_permissions.includes('members:invite'));

  t.test('the clients list, for clients:manage only', async (t) => {
    const list = await ctx.app.inject({ method: 'GET', url: `/v1/orgs/${agency.id}/clients`, headers: ownerAuth });
    t.same(
      list.json().clients.map((c: { id: string }) => c.id),
      [client.id],
    );
    assertProblem(
      t,
      await ctx.app.inject({ method: 'GET', url: `/v1/orgs/${agency.id}/clients`, headers: developer.auth }),
      403,
      'PERMISSION_DENIED',
    );
  });

  t.test('a reseller acts in the client without being a member: the token says so (act)', async (t) => {
    const { res, body } = await login(ctx, reseller.email, reseller.password, { org_id: client.id });
    t.equal(res.statusCode, 200, res.body);
    const claims = claimsOf(body.access_token);
    t.equal(claims.org_id, client.id);
    t.same(claims.act, { org_id: agency.id });
    t.same(claims.roles, []);
    t.same(claims.permissions, [...client.agency_permissions].sort());
    const members = await ctx.app.inject({ method: 'GET', url: `/v1/orgs/${client.id}/members`, headers: bearer(body.access_token) });
    t.equal(members.statusCode, 200, 'reads the client team with the agency grant');
    t.same(members.json().members, [], 'the reseller is not a member');
    const acting = bearer(body.access_token);
    const view = await ctx.app.inject({ method: 'GET', url: `/v1/orgs/${client.id}`, headers: acting });
    t.equal(view.json().acting_for, agency.id);
    assertProblem(t, await ctx.app.inject({ method: 'DELETE', url: `/v1/orgs/${client.id}`, headers: acting }), 403, 'PERMISSION_DENIED');
    // The agency's token is not the client's.
    assertProblem(
      t,
      await ctx.app.inject({ method: 'GET', url: `/v1/orgs/${client.id}`, headers: reseller.auth }),
      403,
      'ORG_TOKEN_REQUIRED',
    );
  });

  t.test('agency members without clients:manage have no access to clients', async (t) => {
    const { res } = await login(ctx, developer.email, developer.password, { org_id: client.id });
    assertProblem(t, res, 403, 'ORG_ACCESS_DENIED');
    assertProblem(t, await ctx.app.inject({ method: 'GET', url: `/v1/orgs/${client.id}`, headers: developer.auth }), 404, 'ORG_NOT_FOUND');
  });

  t.test('a client cannot have clients; an agency grant cannot include billing', async (t) => {
    const { body } = await login(ctx, reseller.email, reseller.password, { org_id: client.id });
    const nested = await ctx.app.inject({
      method: 'POST',
      url: `/v1/orgs/${client.id}/clients`,
      headers: bearer(body.access_token),
      payload: { name: 'Nested' },
    });
    // The grant has no clients:manage in a client.
    assertProblem(t, nested, 403, 'PERMISSION_DENIED');
    const greedy = await ctx.app.inject({
      method: 'POST',
      url: `/v1/orgs/${agency.id}/clients`,
      headers: ownerAuth,
      payload: { name: 'Greedy', permissions: ['billing:manage'] },
    });
    assertProblem(t, greedy, 403, 'ESCALATION_DENIED');
  });

  t.test('losing clients:manage in the agency ends the acting tokens at once', async (t) => {
    const { body } = await login(ctx, reseller.email, reseller.password, { org_id: client.id });
    const acting = bearer(body.access_token);
    t.equal((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: acting })).statusCode, 200);
    const demote = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/orgs/${agency.id}/members/${reseller.id}`,
      headers: ownerAuth,
      payload: { roles: ['auditor'] },
    });
    t.equal(demote.statusCode, 200, demote.body);
    assertProblem(t, await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: acting }), 401, 'TOKEN_STALE');
    assertProblem(t, await refresh(ctx, body.refresh_token), 403, 'ORG_ACCESS_DENIED', 'the refresh finds no access');
    // Audit: the client's creation is in both orgs' trails.
    const events = await ctx.db.selectFrom('audit_events').select(['org_id']).where('action', '=', 'org.client_created').execute();
    t.same(events.map((e) => e.org_id).sort(), [agency.id, client.id].sort());
  });

  t.test('an agency with an Owner-less client cannot be deleted; deleting a client ends the acting sessions in it', async (t) => {
    const reauth = await relogin(ctx, owner, agency.id);
    const refused = await ctx.app.inject({ method: 'DELETE', url: `/v1/orgs/${agency.id}`, headers: reauth.auth });
    const problem = assertProblem(t, refused, 409, 'LAST_OWNER');
    t.ok(
      (problem.orgs as Array<{ id: string }>).some((o) => o.id === client.id),
      'the client is named',
    );
    // A second client, deleted by its Owner while an agency actor is acting in it.
    const second = await ctx.app.inject({
      method: 'POST',
      url: `/v1/orgs/${agency.id}/clients`,
      headers: reauth.auth,
      payload: { name: 'Second Client' },
    });
    const secondId = second.json().id as string;
    const heir = await member(ctx, secondId, ['owner'], 'Client Owner');
    const acting = await login(ctx, owner.email, owner.password, { org_id: secondId });
    t.equal(acting.res.statusCode, 200, acting.res.body);
    t.same(claimsOf(acting.body.access_token).act, { org_id: agency.id });
    const gone = await ctx.app.inject({ method: 'DELETE', url: `/v1/orgs/${secondId}`, headers: heir.auth });
    t.equal(gone.statusCode, 204, gone.body);
    assertProblem(
      t,
      await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(acting.body.access_token) }),
      401,
      'SESSION_REVOKED',
    );
  });
});
