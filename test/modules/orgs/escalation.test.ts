import t from 'tap';
import { buildTestApp, GOOD_PASSWORD, uniqueEmail } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import {
  call,
  customRole,
  joinOrg,
  member,
  orgSnapshot,
  orgWithOwner,
  person,
  quietUser,
  relogin,
  storedRoles,
} from '../../helpers/orgs.js';

/**
 * Privilege escalation: nobody grants, takes away or removes what they do not hold; only an Owner
 * touches Owner; custom roles stay inside the catalogue and the creator's own permissions; and no
 * role, permission or plan can be slipped in through signup, the profile or the org itself.
 */

const ctx = await buildTestApp(t);

const patchRoles = (orgId: string, userId: string, auth: { authorization: string }, roles: string[]) =>
  call(ctx, 'PATCH', `/v1/orgs/${orgId}/members/${userId}`, auth, { roles });
const removeMember = (orgId: string, userId: string, auth: { authorization: string }) =>
  call(ctx, 'DELETE', `/v1/orgs/${orgId}/members/${userId}`, auth);

t.test('an Admin cannot grant Owner, nor demote or remove an Owner (OWNER_REQUIRED); nothing changes', async (t) => {
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Admin Limits');
  const admin = await member(ctx, org.id, ['admin'], 'Ada Admin');
  const target = await quietUser(ctx);
  await joinOrg(ctx, org.id, target.id, ['auditor']);
  const before = await orgSnapshot(ctx, org.id);

  const attempts: Array<[string, () => ReturnType<typeof call>]> = [
    ['grant Owner to a member', () => patchRoles(org.id, target.id, admin.auth, ['owner'])],
    ['grant Owner beside a role', () => patchRoles(org.id, target.id, admin.auth, ['auditor', 'owner'])],
    ['grant themselves Owner', () => patchRoles(org.id, admin.id, admin.auth, ['admin', 'owner'])],
    ['demote the Owner', () => patchRoles(org.id, owner.id, admin.auth, ['admin'])],
    ['add a role to the Owner', () => patchRoles(org.id, owner.id, admin.auth, ['owner', 'auditor'])],
    ['remove the Owner', () => removeMember(org.id, owner.id, admin.auth)],
  ];
  for (const [what, attempt] of attempts) assertProblem(t, await attempt(), 403, 'OWNER_REQUIRED', what);
  t.same(await orgSnapshot(ctx, org.id), before, 'members, roles and sessions are as they were');

  // What an Admin may do: handle roles they hold in full.
  t.equal((await patchRoles(org.id, target.id, admin.auth, ['business_owner'])).statusCode, 200, 'an Admin re-roles a non-Owner');
});

t.test('a Manager cannot grant, take away or remove what they do not hold (ESCALATION_DENIED listing it)', async (t) => {
  const { owner, org } = await orgWithOwner(ctx, 'crm', 'Manager Limits');
  const { auth: ownerAuth } = await relogin(ctx, owner, org.id);
  // The Owner creates a role with billing:manage (which a Manager lacks) and one a Manager holds in full.
  const billing = await call(ctx, 'POST', `/v1/orgs/${org.id}/roles`, ownerAuth, {
    key: 'billing',
    name: 'Billing',
    permissions: ['billing:manage'],
  });
  t.equal(billing.statusCode, 201, billing.body);
  const helper = await call(ctx, 'POST', `/v1/orgs/${org.id}/roles`, ownerAuth, {
    key: 'helper',
    name: 'Helper',
    permissions: ['reports:read'],
  });
  t.equal(helper.statusCode, 201, helper.body);
  const manager = await member(ctx, org.id, ['manager'], 'Max Manager');
  const plain = await quietUser(ctx);
  await joinOrg(ctx, org.id, plain.id, ['helper']);
  const biller = await quietUser(ctx);
  await joinOrg(ctx, org.id, biller.id, ['helper', 'billing']);
  const before = await orgSnapshot(ctx, org.id);

  const escalations: Array<[string, () => ReturnType<typeof call>, string[]]> = [
    ['grant the billing role', () => patchRoles(org.id, plain.id, manager.auth, ['helper', 'billing']), ['billing:manage']],
    ['swap a role for the billing role', () => patchRoles(org.id, plain.id, manager.auth, ['billing']), ['billing:manage']],
    ['grant themselves the billing role', () => patchRoles(org.id, manager.id, manager.auth, ['manager', 'billing']), ['billing:manage']],
    ['take the billing role away', () => patchRoles(org.id, biller.id, manager.auth, ['helper']), ['billing:manage']],
    ['remove a member who holds more', () => removeMember(org.id, biller.id, manager.auth), ['billing:manage']],
    [
      'create a role with a permission they lack',
      () =>
        call(ctx, 'POST', `/v1/orgs/${org.id}/roles`, manager.auth, {
          key: 'sneaky',
          name: 'Sneaky',
          permissions: ['reports:read', 'org:delete'],
        }),
      ['org:delete'],
    ],
    [
      'add a permission they lack to a custom role',
      () => call(ctx, 'PATCH', `/v1/orgs/${org.id}/roles/helper`, manager.auth, { permissions: ['reports:read', 'billing:manage'] }),
      ['billing:manage'],
    ],
    [
      'edit a role that grants more than they hold',
      () => call(ctx, 'PATCH', `/v1/orgs/${org.id}/roles/billing`, manager.auth, { permissions: [] }),
      ['billing:manage'],
    ],
  ];
  for (const [what, attempt, missing] of escalations) {
    const problem = assertProblem(t, await attempt(), 403, 'ESCALATION_DENIED', what);
    t.same(problem.missing, missing, `${what}: missing lists ${missing.join(', ')}`);
  }
  assertProblem(t, await patchRoles(org.id, plain.id, manager.auth, ['owner']), 403, 'OWNER_REQUIRED', 'a Manager cannot grant Owner');
  t.same(await orgSnapshot(ctx, org.id), before, 'members, roles and sessions are as they were');
  t.same(await storedRoles(ctx, org.id, plain.id), ['helper']);
  t.same(await storedRoles(ctx, org.id, biller.id), ['billing', 'helper']);
  t.same(await storedRoles(ctx, org.id, manager.id), ['manager']);

  // An unused role carrying more than the Manager holds cannot be deleted by them either.
  await customRole(ctx, org.id, 'unused_billing', ['billing:manage']);
  const del = assertProblem(
    t,
    await call(ctx, 'DELETE', `/v1/orgs/${org.id}/roles/unused_billing`, manager.auth),
    403,
    'ESCALATION_DENIED',
  );
  t.same(del.missing, ['billing:manage']);

  // Within what they hold, a Manager does manage the team.
  const granted = await patchRoles(org.id, plain.id, manager.auth, ['helper', 'manager']);
  t.equal(granted.statusCode, 200, `a Manager grants a role they hold in full (${granted.body})`);
});

t.test('custom roles take only permissions of the catalogue (400 VALIDATION_FAILED), even from an Owner', async (t) => {
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Catalogue Only');
  const { auth } = await relogin(ctx, owner, org.id);
  await customRole(ctx, org.id, 'existing', ['reports:read']);
  const before = await orgSnapshot(ctx, org.id);
  for (const permissions of [['superuser'], ['reports:read', 'billing:*'], ['*'], ['Reports:Read']]) {
    assertProblem(
      t,
      await call(ctx, 'POST', `/v1/orgs/${org.id}/roles`, auth, { key: 'outside', name: 'Outside', permissions }),
      400,
      'VALIDATION_FAILED',
      `create with ${permissions.join(', ')}`,
    );
    assertProblem(
      t,
      await call(ctx, 'PATCH', `/v1/orgs/${org.id}/roles/existing`, auth, { permissions }),
      400,
      'VALIDATION_FAILED',
      `edit to ${permissions.join(', ')}`,
    );
  }
  // A custom role cannot take a preset role's key (the Owner count reads the key "owner").
  assertProblem(
    t,
    await call(ctx, 'POST', `/v1/orgs/${org.id}/roles`, auth, { key: 'owner', name: 'Fake Owner', permissions: [] }),
    409,
    'ROLE_EXISTS',
    'a custom role keyed "owner"',
  );
  t.same(await orgSnapshot(ctx, org.id), before, 'no role was created or changed');
});

t.test('roles, permissions and org fields cannot be sent to signup or to the profile (400), and nothing changes', async (t) => {
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Profile Fields');
  for (const extra of [{ roles: ['owner'] }, { permissions: ['org:delete'] }, { org_id: org.id, roles: ['admin'] }]) {
    const email = uniqueEmail('sneaky');
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/v1/signup',
      payload: { email, password: GOOD_PASSWORD, name: 'Sneaky', ...extra },
    });
    assertProblem(t, res, 400, 'VALIDATION_FAILED', `signup with ${Object.keys(extra).join(', ')}`);
    t.notOk(await ctx.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst(), 'no account');
  }

  const plain = await person(ctx, { name: 'Pat Plain' });
  const before = await orgSnapshot(ctx, org.id);
  const userBefore = await ctx.db.selectFrom('users').selectAll().where('id', '=', plain.id).executeTakeFirstOrThrow();
  for (const payload of [
    { name: 'Renamed', roles: ['owner'] },
    { permissions: ['org:delete', 'billing:manage'] },
    { org_id: org.id },
    { name: 'Renamed', org_id: org.id, roles: ['admin'], permissions: ['members:manage'] },
  ]) {
    assertProblem(
      t,
      await call(ctx, 'PATCH', '/v1/me', plain.auth, payload),
      400,
      'VALIDATION_FAILED',
      `PATCH /v1/me ${JSON.stringify(payload)}`,
    );
  }
  t.same(
    await ctx.db.selectFrom('users').selectAll().where('id', '=', plain.id).executeTakeFirstOrThrow(),
    userBefore,
    'the account row is unchanged',
  );
  t.same(await ctx.db.selectFrom('org_members').select('org_id').where('user_id', '=', plain.id).execute(), [], 'no membership');
  t.same(await orgSnapshot(ctx, org.id), before, 'the org is unchanged');
  // The owner's own profile cannot carry them either.
  assertProblem(t, await call(ctx, 'PATCH', '/v1/me', owner.auth, { roles: ['owner'], org_id: org.id }), 400, 'VALIDATION_FAILED');
});

t.test('the org creator cannot set the plan (or who manages the org) on create or update (400)', async (t) => {
  const creator = await person(ctx, { name: 'Cleo Creator' });
  for (const extra of [
    { plan: 'enterprise' },
    { managed_by: '00000000-0000-4000-8000-000000000001' },
    { agency_permissions: ['org:delete'] },
  ]) {
    const name = `Planned ${Object.keys(extra)[0]}`;
    const res = await call(ctx, 'POST', '/v1/orgs', creator.auth, { name, ...extra });
    assertProblem(t, res, 400, 'VALIDATION_FAILED', `create with ${Object.keys(extra)[0]}`);
    t.notOk(await ctx.db.selectFrom('orgs').select('id').where('name', '=', name).executeTakeFirst(), 'no org created');
  }
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Starter Forever');
  const { auth } = await relogin(ctx, owner, org.id);
  const before = await orgSnapshot(ctx, org.id);
  for (const payload of [{ plan: 'enterprise' }, { name: 'Upgraded', plan: 'professional' }, { managed_by: org.id }]) {
    assertProblem(
      t,
      await call(ctx, 'PATCH', `/v1/orgs/${org.id}`, auth, payload),
      400,
      'VALIDATION_FAILED',
      `update ${JSON.stringify(payload)}`,
    );
  }
  t.same(await orgSnapshot(ctx, org.id), before, 'the org is unchanged');
  t.equal((await ctx.db.selectFrom('orgs').select('plan').where('id', '=', org.id).executeTakeFirstOrThrow()).plan, 'starter');
});
