import { sql, type Selectable } from 'kysely';
import type { Db } from '../../infra/db/connect.js';
import type { OrgRolesTable, OrgsTable } from '../../infra/db/schema.js';
import type { Executor } from '../../infra/db/unit-of-work.js';

export type OrgRow = Selectable<OrgsTable>;
export type RoleRow = Selectable<OrgRolesTable>;

/** A member's (or an agency actor's) access as stored: one row per role held. */
export type AccessRow = {
  plan: OrgRow['plan'];
  security_policy: Record<string, unknown>;
  mfa_required_since: Date | null;
  joined_at: Date;
  roles_changed_at: Date;
  key: string | null;
  permissions: string[] | null;
};

export type NewOrg = Pick<OrgRow, 'id' | 'name' | 'slug' | 'role_preset' | 'managed_by' | 'agency_permissions' | 'created_by'>;
export type NewRole = Pick<RoleRow, 'id' | 'org_id' | 'key' | 'name' | 'description' | 'permissions' | 'builtin'>;

// A member row (the alias m) with its role keys and the union of their permissions.
const memberColumns = [
  'm.user_id',
  'm.joined_at',
  'm.roles_changed_at',
  sql<string[]>`coalesce((select array_agg(r.key order by r.key) from org_member_roles mr join org_roles r on r.id = mr.role_id
                 where mr.org_id = m.org_id and mr.user_id = m.user_id), '{}')`.as('roles'),
  sql<string[]>`coalesce((select array_agg(distinct p) from org_member_roles mr join org_roles r on r.id = mr.role_id,
                 unnest(r.permissions) p where mr.org_id = m.org_id and mr.user_id = m.user_id), '{}')`.as('permissions'),
] as const;

/** Orgs, their roles and members (org_invitations: invitations-store.ts). */
export function createOrgStore(db: Db) {
  return {
    /** False when the slug is taken (the unique index decides; no error, so the transaction goes on). */
    async insertOrg(org: NewOrg, tx: Executor): Promise<boolean> {
      const row = await tx
        .insertInto('orgs')
        .values(org)
        .onConflict((oc) => oc.column('slug').doNothing())
        .returning('id')
        .executeTakeFirst();
      return !!row;
    },

    async insertRoles(roles: NewRole[], tx: Executor) {
      await tx.insertInto('org_roles').values(roles).execute();
    },

    /** False when the user is already a member. */
    async insertMember(orgId: string, userId: string, roleIds: readonly string[], at: Date, tx: Executor): Promise<boolean> {
      const added = await tx
        .insertInto('org_members')
        .values({ org_id: orgId, user_id: userId, joined_at: at, roles_changed_at: at })
        .onConflict((oc) => oc.columns(['org_id', 'user_id']).doNothing())
        .returning('user_id')
        .executeTakeFirst();
      if (!added) return false;
      if (roleIds.length) {
        await tx
          .insertInto('org_member_roles')
          .values(roleIds.map((role_id) => ({ org_id: orgId, user_id: userId, role_id })))
          .execute();
      }
      return true;
    },

    findOrg(orgId: string, ex: Executor = db) {
      return ex.selectFrom('orgs').selectAll().where('id', '=', orgId).executeTakeFirst();
    },

    /**
     * A shared lock on the org row, for a change that refers to the org (a personal access token
     * of it): it waits for a change of members or roles holding lockOrg, which comes first in the
     * lock order (the org row, then anything of the account).
     */
    async lockOrgShared(orgId: string, tx: Executor): Promise<boolean> {
      return (await tx.selectFrom('orgs').select('id').where('id', '=', orgId).forKeyShare().executeTakeFirst()) !== undefined;
    },

    /** Every change to an org's members or roles takes this lock first: owner counts and role checks see a settled org. */
    lockOrg(orgId: string, tx: Executor) {
      return tx.selectFrom('orgs').selectAll().where('id', '=', orgId).forUpdate().executeTakeFirst();
    },

    async updateOrg(
      orgId: string,
      patch: Partial<Pick<OrgRow, 'name' | 'mfa_required_since'>> & { security_policy?: string },
      now: Date,
      tx: Executor,
    ) {
      return tx
        .updateTable('orgs')
        .set({ ...patch, updated_at: now })
        .where('id', '=', orgId)
        .returningAll()
        .executeTakeFirstOrThrow();
    },

    async deleteOrg(orgId: string, tx: Executor) {
      // Members' roles first: the cascade from orgs would reach org_roles before org_member_roles.
      await tx.deleteFrom('org_member_roles').where('org_id', '=', orgId).execute();
      await tx.deleteFrom('orgs').where('id', '=', orgId).execute();
    },

    /** The hot path of org tokens: one statement, by primary keys. */
    async memberAccess(orgId: string, userId: string, ex: Executor = db): Promise<AccessRow[]> {
      const result = await sql<AccessRow>`
        select o.plan, o.security_policy, o.mfa_required_since, m.joined_at, m.roles_changed_at, r.key, r.permissions
        from org_members m
        join orgs o on o.id = m.org_id
        left join org_member_roles mr on mr.org_id = m.org_id and mr.user_id = m.user_id
        left join org_roles r on r.id = mr.role_id
        where m.org_id = ${orgId} and m.user_id = ${userId}`.execute(ex);
      return result.rows;
    },

    /** A user's access to a client org through the agency that manages it (their roles in the agency). */
    async agencyAccess(
      clientOrgId: string,
      userId: string,
      ex: Executor = db,
    ): Promise<Array<AccessRow & { agency_id: string; agency_permissions: string[] }>> {
      const result = await sql<AccessRow & { agency_id: string; agency_permissions: string[] }>`
        select c.plan, c.security_policy, c.mfa_required_since, am.joined_at, am.roles_changed_at, r.key, r.permissions,
               c.managed_by as agency_id, c.agency_permissions
        from orgs c
        join org_members am on am.org_id = c.managed_by and am.user_id = ${userId}
        left join org_member_roles mr on mr.org_id = am.org_id and mr.user_id = am.user_id
        left join org_roles r on r.id = mr.role_id
        where c.id = ${clientOrgId}`.execute(ex);
      return result.rows;
    },

    /** The orgs a user belongs to, with their role keys. */
    listOrgsOf(userId: string, ex: Executor = db) {
      return ex
        .selectFrom('org_members as m')
        .innerJoin('orgs as o', 'o.id', 'm.org_id')
        .select([
          'o.id',
          'o.name',
          'o.slug',
          'o.plan',
          'o.role_preset',
          'o.managed_by',
          'm.joined_at',
          sql<string[]>`coalesce((select array_agg(r.key order by r.key) from org_member_roles mr join org_roles r on r.id = mr.role_id
                         where mr.org_id = m.org_id and mr.user_id = m.user_id), '{}')`.as('roles'),
        ])
        .where('m.user_id', '=', userId)
        .orderBy('o.name')
        .execute();
    },

    /** Members with their role keys and permissions. */
    listMembers(orgId: string, ex: Executor = db) {
      return ex.selectFrom('org_members as m').select(memberColumns).where('m.org_id', '=', orgId).orderBy('m.joined_at').execute();
    },

    async member(orgId: string, userId: string, ex: Executor = db) {
      const members = await ex
        .selectFrom('org_members as m')
        .select(memberColumns)
        .where('m.org_id', '=', orgId)
        .where('m.user_id', '=', userId)
        .execute();
      return members[0];
    },

    /** The Owners of an org (on the locked org: the count is settled). */
    async ownerIds(orgId: string, ex: Executor): Promise<string[]> {
      const rows = await ex
        .selectFrom('org_member_roles as mr')
        .innerJoin('org_roles as r', 'r.id', 'mr.role_id')
        .select('mr.user_id')
        .where('mr.org_id', '=', orgId)
        .where('r.key', '=', 'owner')
        .execute();
      return rows.map((r) => r.user_id);
    },

    /** Replaces a member's roles and stamps the change. */
    async setMemberRoles(orgId: string, userId: string, roleIds: readonly string[], at: Date, tx: Executor) {
      await tx.deleteFrom('org_member_roles').where('org_id', '=', orgId).where('user_id', '=', userId).execute();
      if (roleIds.length) {
        await tx
          .insertInto('org_member_roles')
          .values(roleIds.map((role_id) => ({ org_id: orgId, user_id: userId, role_id })))
          .execute();
      }
      await tx.updateTable('org_members').set({ roles_changed_at: at }).where('org_id', '=', orgId).where('user_id', '=', userId).execute();
    },

    /**
     * Stamps a role change on every holder of a role (its permissions were edited): each gets the
     * first whole second after both now and their previous stamp (see sessions' nextNotBefore).
     */
    async touchHolders(roleId: string, now: Date, tx: Executor): Promise<Array<{ userId: string; notBefore: Date }>> {
      const rows = await sql<{ user_id: string; roles_changed_at: Date }>`
        update org_members m
           set roles_changed_at = greatest(date_trunc('second', ${now}::timestamptz),
                                           date_trunc('second', m.roles_changed_at + interval '999999 microseconds')) + interval '1 second'
          from org_member_roles mr
         where mr.org_id = m.org_id and mr.user_id = m.user_id and mr.role_id = ${roleId}
        returning m.user_id, m.roles_changed_at`.execute(tx);
      return rows.rows.map((r) => ({ userId: r.user_id, notBefore: r.roles_changed_at }));
    },

    async removeMember(orgId: string, userId: string, tx: Executor): Promise<boolean> {
      const gone = await tx
        .deleteFrom('org_members')
        .where('org_id', '=', orgId)
        .where('user_id', '=', userId)
        .returning('user_id')
        .executeTakeFirst();
      return !!gone;
    },

    listRoles(orgId: string, ex: Executor = db) {
      return ex
        .selectFrom('org_roles as r')
        .selectAll('r')
        .select(sql<number>`(select count(*)::int from org_member_roles mr where mr.role_id = r.id)`.as('members'))
        .where('r.org_id', '=', orgId)
        .orderBy('r.builtin', 'desc')
        .orderBy('r.created_at')
        .orderBy('r.key')
        .execute();
    },

    rolesByKeys(orgId: string, keys: readonly string[], ex: Executor = db) {
      if (keys.length === 0) return Promise.resolve([] as RoleRow[]);
      return ex.selectFrom('org_roles').selectAll().where('org_id', '=', orgId).where('key', 'in', keys).execute();
    },

    /** False when the key is taken in the org. */
    async insertRole(role: NewRole, tx: Executor): Promise<boolean> {
      const row = await tx
        .insertInto('org_roles')
        .values(role)
        .onConflict((oc) => oc.columns(['org_id', 'key']).doNothing())
        .returning('id')
        .executeTakeFirst();
      return !!row;
    },

    async updateRole(roleId: string, patch: Partial<Pick<RoleRow, 'name' | 'description' | 'permissions'>>, now: Date, tx: Executor) {
      return tx
        .updateTable('org_roles')
        .set({ ...patch, updated_at: now })
        .where('id', '=', roleId)
        .returningAll()
        .executeTakeFirstOrThrow();
    },

    async roleHolderCount(roleId: string, tx: Executor): Promise<number> {
      const row = await tx
        .selectFrom('org_member_roles')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('role_id', '=', roleId)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },

    async deleteRole(roleId: string, tx: Executor) {
      await tx.deleteFrom('org_roles').where('id', '=', roleId).execute();
    },

    /** The orgs the user belongs to, locked in id order (account deletion: none may be left without an Owner). */
    async lockOrgsOf(userId: string, tx: Executor) {
      const result = await sql<{ id: string; name: string }>`
        select o.id, o.name from orgs o
        where exists (select 1 from org_members m where m.org_id = o.id and m.user_id = ${userId})
        order by o.id
        for update of o`.execute(tx);
      return result.rows;
    },

    listClients(agencyId: string, ex: Executor = db) {
      return ex.selectFrom('orgs').selectAll().where('managed_by', '=', agencyId).orderBy('name').execute();
    },

    /** The agency's client orgs in which the user is not a member: where they could only act through the agency. */
    async clientsActedInBy(agencyId: string, userId: string, ex: Executor = db): Promise<string[]> {
      const rows = await ex
        .selectFrom('orgs as c')
        .select('c.id')
        .where('c.managed_by', '=', agencyId)
        .where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom('org_members as m').select('m.user_id').whereRef('m.org_id', '=', 'c.id').where('m.user_id', '=', userId))),
        )
        .execute();
      return rows.map((r) => r.id);
    },

    /** Agency members who act in its client orgs (hold clients:manage there). */
    async agencyActors(agencyId: string, ex: Executor = db): Promise<string[]> {
      const rows = await ex
        .selectFrom('org_member_roles as mr')
        .innerJoin('org_roles as r', 'r.id', 'mr.role_id')
        .select('mr.user_id')
        .distinct()
        .where('mr.org_id', '=', agencyId)
        .where(sql<boolean>`'clients:manage' = any(r.permissions)`)
        .execute();
      return rows.map((r) => r.user_id);
    },
  };
}

export type OrgStore = ReturnType<typeof createOrgStore>;
