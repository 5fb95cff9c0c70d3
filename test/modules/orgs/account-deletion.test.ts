import t from 'tap';
import { eventually } from '../../helpers/eventually.js';
import { buildTestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { call, joinOrg, member, orgWithOwner, ownersOf, relogin, storedRoles, type Auth } from '../../helpers/orgs.js';

/**
 * Deleting an account and its organizations: the last Owner of an org cannot delete their account
 * (409 LAST_OWNER naming the orgs) until someone else is an Owner; any other member's deletion
 * takes them out of every org, recorded in each org's trail.
 */

const ctx = await buildTestApp(t);

const deleteMe = (auth: Auth, password: string) => call(ctx, 'DELETE', '/v1/me', auth, { password });
const userRow = (id: string) => ctx.db.selectFrom('users').select('id').where('id', '=', id).executeTakeFirst();
const memberships = (id: string) => ctx.db.selectFrom('org_members').select('org_id').where('user_id', '=', id).orderBy('org_id').execute();
const memberRoleRows = (id: string) => ctx.db.selectFrom('org_member_roles').select('org_id').where('user_id', '=', id).execute();

t.test('the last Owner cannot delete their account (409 LAST_OWNER listing the orgs); once another is Owner, they can', async (t) => {
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Sole Owned');
  // A second org the owner created, which has another Owner: it is not listed.
  const shared = await call(ctx, 'POST', '/v1/orgs', owner.auth, { name: 'Co Owned', role_preset: 'crm' });
  t.equal(shared.statusCode, 201, shared.body);
  const sharedId = shared.json().id as string;
  const coOwner = await member(ctx, sharedId, ['owner'], 'Co Owner');
  const heir = await member(ctx, org.id, ['admin'], 'He Ir');
  const membershipsBefore = await memberships(owner.id);
  t.equal(membershipsBefore.length, 2);

  const refused = assertProblem(t, await deleteMe(owner.auth, owner.password), 409, 'LAST_OWNER');
  t.same(refused.orgs, [{ id: org.id, name: 'Sole Owned' }], 'only the org they alone own is named');
  t.match(refused.detail, /Sole Owned/);
  t.ok(await userRow(owner.id), 'the account is still there');
  t.same(await memberships(owner.id), membershipsBefore, 'and so are its memberships');
  t.same(await storedRoles(ctx, org.id, owner.id), ['owner']);
  t.equal((await call(ctx, 'GET', '/v1/me', owner.auth)).statusCode, 200, 'its session lives');

  // Another Owner for the org, then the deletion goes through.
  const { auth: ownerInOrg } = await relogin(ctx, owner, org.id);
  const promote = await call(ctx, 'PATCH', `/v1/orgs/${org.id}/members/${heir.id}`, ownerInOrg, { roles: ['owner'] });
  t.equal(promote.statusCode, 200, promote.body);
  const fresh = await relogin(ctx, owner);
  const deleted = await deleteMe(fresh.auth, owner.password);
  t.equal(deleted.statusCode, 204, deleted.body);
  t.notOk(await userRow(owner.id), 'the account is gone');
  t.same(await memberships(owner.id), [], 'its memberships are gone');
  t.same(await memberRoleRows(owner.id), [], 'and their roles');
  t.same(await ownersOf(ctx, org.id), [heir.id], 'the heir owns the org');
  t.same(await ownersOf(ctx, sharedId), [coOwner.id], 'the co-owned org keeps its other Owner');
  // Recorded once the deletion has committed (detached events are written in batches).
  const trail = await eventually(async () => {
    const rows = await ctx.db
      .selectFrom('audit_events')
      .select(['org_id', 'target_id', 'data'])
      .where('action', '=', 'org.member_removed')
      .where('target_id', '=', owner.id)
      .orderBy('org_id')
      .execute();
    return rows.length === 2 ? rows : null;
  });
  t.same(trail.map((e) => e.org_id).sort(), [org.id, sharedId].sort(), "each org's trail records the departure");
});

t.test("a plain member's deletion removes them from the org, recorded in its trail", async (t) => {
  const { owner, org } = await orgWithOwner(ctx, 'crm', 'Staffed Org');
  const { auth } = await relogin(ctx, owner, org.id);
  const staff = await member(ctx, org.id, ['staff'], 'Sta Ff');
  const { org: other } = await orgWithOwner(ctx, 'compliance', 'Second Org');
  await joinOrg(ctx, other.id, staff.id, ['auditor']);

  const deleted = await deleteMe(staff.auth, staff.password);
  t.equal(deleted.statusCode, 204, deleted.body);
  t.notOk(await userRow(staff.id));
  t.same(await memberships(staff.id), [], 'no membership left');
  t.same(await memberRoleRows(staff.id), []);
  const list = await call(ctx, 'GET', `/v1/orgs/${org.id}/members`, auth);
  t.same(
    (list.json().members as Array<{ user_id: string }>).map((m) => m.user_id),
    [owner.id],
    'the team list no longer shows them',
  );
  const events = await eventually(async () => {
    const rows = await ctx.db
      .selectFrom('audit_events')
      .select(['org_id', 'actor_id', 'data'])
      .where('action', '=', 'org.member_removed')
      .where('target_id', '=', staff.id)
      .execute();
    return rows.length === 2 ? rows : null;
  });
  t.same(events.map((e) => e.org_id).sort(), [org.id, other.id].sort(), 'org.member_removed in each org, with its org_id');
  for (const e of events) t.match(e, { actor_id: staff.id, data: { reason: 'account_deleted' } });
  t.same(await ownersOf(ctx, org.id), [owner.id], 'the org is otherwise untouched');
});
