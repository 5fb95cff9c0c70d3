import t from 'tap';
import { buildTestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { bearer, call, claimsOf, customRole, joinOrg, member, orgWithOwner, quietUser, refresh, relogin } from '../../helpers/orgs.js';
import { ROLE_PRESETS } from '../../../src/modules/orgs/presets.js';
import { PERMISSIONS } from '../../../src/shared/permissions.js';

/**
 * The org's role catalogue: the preset's roles (fixed) beside custom ones, the permission
 * catalogue for a role editor, and custom roles' life: create, edit (its holders' tokens are
 * refused at once and their next ones carry the new permissions), delete (not while held).
 */

const ctx = await buildTestApp(t);

t.test("the list: the preset's roles, custom roles with their member counts, and the permission catalogue with descriptions", async (t) => {
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Role Catalogue');
  const { auth } = await relogin(ctx, owner, org.id);
  await customRole(ctx, org.id, 'helper', ['reports:read']);
  const helperHolder = await quietUser(ctx);
  await joinOrg(ctx, org.id, helperHolder.id, ['helper', 'auditor']);

  const res = await call(ctx, 'GET', `/v1/orgs/${org.id}/roles`, auth);
  t.equal(res.statusCode, 200, res.body);
  const body = res.json() as {
    roles: Array<{ key: string; name: string; description: string; permissions: string[]; builtin: boolean; members: number }>;
    permissions: Array<{ permission: string; description: string }>;
  };
  t.same(
    body.permissions,
    Object.entries(PERMISSIONS).map(([permission, description]) => ({ permission, description })),
    'the whole catalogue, each permission with its description',
  );
  t.ok(
    body.permissions.every((p) => p.description.length > 5),
    'descriptions are real text',
  );

  const byKey = new Map(body.roles.map((r) => [r.key, r]));
  for (const [key, spec] of Object.entries(ROLE_PRESETS.compliance)) {
    t.same(
      byKey.get(key),
      {
        key,
        name: spec.name,
        description: spec.description,
        permissions: [...spec.permissions].sort(),
        builtin: true,
        members: key === 'owner' || key === 'auditor' ? 1 : 0,
      },
      `preset role ${key}`,
    );
  }
  t.match(byKey.get('helper'), { builtin: false, permissions: ['reports:read'], members: 1 });
  t.equal(body.roles.length, Object.keys(ROLE_PRESETS.compliance).length + 1, 'nothing else');
  t.same(
    body.roles.slice(0, Object.keys(ROLE_PRESETS.compliance).length).map((r) => r.builtin),
    Object.keys(ROLE_PRESETS.compliance).map(() => true),
    'the preset roles come first',
  );
});

t.test('a custom role: create, edit, delete', async (t) => {
  const { owner, org } = await orgWithOwner(ctx, 'crm', 'Custom Roles');
  const { auth } = await relogin(ctx, owner, org.id);
  const created = await call(ctx, 'POST', `/v1/orgs/${org.id}/roles`, auth, {
    name: 'Support Desk',
    description: 'Answers customers',
    permissions: ['customers:read', 'customers:read', 'reports:read'],
  });
  t.equal(created.statusCode, 201, created.body);
  t.same(created.json(), {
    key: 'support_desk',
    name: 'Support Desk',
    description: 'Answers customers',
    permissions: ['customers:read', 'reports:read'],
    builtin: false,
  });
  assertProblem(
    t,
    await call(ctx, 'POST', `/v1/orgs/${org.id}/roles`, auth, { name: 'Support Desk', permissions: [] }),
    409,
    'ROLE_EXISTS',
    'the same key again',
  );

  const edited = await call(ctx, 'PATCH', `/v1/orgs/${org.id}/roles/support_desk`, auth, {
    name: 'Support',
    permissions: ['customers:write'],
  });
  t.equal(edited.statusCode, 200, edited.body);
  t.match(edited.json(), {
    key: 'support_desk',
    name: 'Support',
    description: 'Answers customers',
    permissions: ['customers:write'],
    builtin: false,
  });
  const row = await ctx.db
    .selectFrom('org_roles')
    .selectAll()
    .where('org_id', '=', org.id)
    .where('key', '=', 'support_desk')
    .executeTakeFirstOrThrow();
  t.match(row, { name: 'Support', permissions: ['customers:write'], builtin: false });

  const deleted = await call(ctx, 'DELETE', `/v1/orgs/${org.id}/roles/support_desk`, auth);
  t.equal(deleted.statusCode, 204, deleted.body);
  t.notOk(
    await ctx.db.selectFrom('org_roles').select('id').where('org_id', '=', org.id).where('key', '=', 'support_desk').executeTakeFirst(),
    'gone',
  );
  assertProblem(t, await call(ctx, 'DELETE', `/v1/orgs/${org.id}/roles/support_desk`, auth), 404, 'ROLE_NOT_FOUND', 'deleting it again');
  assertProblem(
    t,
    await call(ctx, 'PATCH', `/v1/orgs/${org.id}/roles/support_desk`, auth, { name: 'X' }),
    404,
    'ROLE_NOT_FOUND',
    'editing it',
  );
  const target = await quietUser(ctx);
  await joinOrg(ctx, org.id, target.id, ['staff']);
  assertProblem(
    t,
    await call(ctx, 'PATCH', `/v1/orgs/${org.id}/members/${target.id}`, auth, { roles: ['support_desk'] }),
    422,
    'ROLE_UNKNOWN',
    'granting it',
  );
});

t.test(
  "editing a custom role's permissions makes its holders' tokens stale at once; their refreshed tokens carry the new permissions",
  async (t) => {
    const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Role Edits');
    const { auth } = await relogin(ctx, owner, org.id);
    await customRole(ctx, org.id, 'analyst', ['reports:read']);
    const holder = await member(ctx, org.id, ['analyst', 'developer'], 'Hol Der');
    const bystander = await member(ctx, org.id, ['auditor'], 'By Stander');
    t.same(claimsOf(holder.tokens.access_token).permissions, ['api:manage', 'reports:read', 'tokens:introspect', 'webhooks:manage']);

    // A rename changes no permission: nobody's token is refused.
    t.equal((await call(ctx, 'PATCH', `/v1/orgs/${org.id}/roles/analyst`, auth, { name: 'Analyst' })).statusCode, 200);
    t.equal((await call(ctx, 'GET', '/v1/me', holder.auth)).statusCode, 200, 'a rename leaves the token valid');

    const edit = await call(ctx, 'PATCH', `/v1/orgs/${org.id}/roles/analyst`, auth, { permissions: ['reports:read', 'audit:read'] });
    t.equal(edit.statusCode, 200, edit.body);
    assertProblem(t, await call(ctx, 'GET', '/v1/me', holder.auth), 401, 'TOKEN_STALE', "the holder's token");
    assertProblem(t, await call(ctx, 'GET', `/v1/orgs/${org.id}`, holder.auth), 401, 'TOKEN_STALE', "the holder's token on an org route");
    t.equal((await call(ctx, 'GET', '/v1/me', bystander.auth)).statusCode, 200, "a non-holder's token is untouched");

    const fresh = await refresh(ctx, holder.tokens.refresh_token);
    t.equal(fresh.statusCode, 200, fresh.body);
    const token = fresh.json().access_token as string;
    t.same(
      claimsOf(token).permissions,
      ['api:manage', 'audit:read', 'reports:read', 'tokens:introspect', 'webhooks:manage'],
      'the new permissions',
    );
    t.same(claimsOf(token).roles, ['analyst', 'developer']);
    const view = await call(ctx, 'GET', `/v1/orgs/${org.id}`, bearer(token));
    t.equal(view.statusCode, 200, 'the refreshed token works at once');
    t.ok((view.json().your_permissions as string[]).includes('audit:read'));

    // Taking a permission away is enforced the same way.
    t.equal((await call(ctx, 'PATCH', `/v1/orgs/${org.id}/roles/analyst`, auth, { permissions: [] })).statusCode, 200);
    assertProblem(t, await call(ctx, 'GET', '/v1/me', bearer(token)), 401, 'TOKEN_STALE', 'after permissions are taken away');
    const after = await refresh(ctx, fresh.json().refresh_token);
    t.same(claimsOf(after.json().access_token).permissions, ['api:manage', 'tokens:introspect', 'webhooks:manage']);
  },
);

t.test('a role still held cannot be deleted (ROLE_IN_USE); preset roles cannot be edited or deleted (ROLE_BUILTIN)', async (t) => {
  const { owner, org } = await orgWithOwner(ctx, 'crm', 'Role Rules');
  const { auth } = await relogin(ctx, owner, org.id);
  await customRole(ctx, org.id, 'held', ['reports:read']);
  const holder = await quietUser(ctx);
  await joinOrg(ctx, org.id, holder.id, ['held']);
  const inUse = assertProblem(t, await call(ctx, 'DELETE', `/v1/orgs/${org.id}/roles/held`, auth), 409, 'ROLE_IN_USE');
  t.match(inUse.detail, /1 member/);
  t.ok(
    await ctx.db.selectFrom('org_roles').select('id').where('org_id', '=', org.id).where('key', '=', 'held').executeTakeFirst(),
    'still there',
  );

  for (const key of Object.keys(ROLE_PRESETS.crm)) {
    assertProblem(
      t,
      await call(ctx, 'PATCH', `/v1/orgs/${org.id}/roles/${key}`, auth, { permissions: ['reports:read'] }),
      409,
      'ROLE_BUILTIN',
      `edit ${key}`,
    );
    assertProblem(
      t,
      await call(ctx, 'PATCH', `/v1/orgs/${org.id}/roles/${key}`, auth, { name: 'Renamed' }),
      409,
      'ROLE_BUILTIN',
      `rename ${key}`,
    );
    assertProblem(t, await call(ctx, 'DELETE', `/v1/orgs/${org.id}/roles/${key}`, auth), 409, 'ROLE_BUILTIN', `delete ${key}`);
  }
  const rows = await ctx.db
    .selectFrom('org_roles')
    .select(['key', 'name', 'permissions'])
    .where('org_id', '=', org.id)
    .where('builtin', '=', true)
    .execute();
  for (const r of rows) {
    const spec = ROLE_PRESETS.crm[r.key as keyof typeof ROLE_PRESETS.crm];
    t.same(
      { name: r.name, permissions: [...r.permissions].sort() },
      { name: spec.name, permissions: [...spec.permissions].sort() },
      `${r.key} is as the preset says`,
    );
  }
});
