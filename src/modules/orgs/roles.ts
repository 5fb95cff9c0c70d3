import { randomUUID } from 'node:crypto';
import type { Clock } from '../../infra/clock.js';
import type { WithTransaction } from '../../infra/db/unit-of-work.js';
import { PERMISSIONS, type Permission } from '../../shared/permissions.js';
import type { AuditContext, AuditService } from '../audit/index.js';
import type { SessionService } from '../sessions/index.js';
import { orgError } from './errors.js';
import { assertHolds } from './grant-rules.js';
import type { Actor } from './members.js';
import { slugify } from './slug.js';
import type { OrgStore, RoleRow } from './store.js';
import type { LockActor } from './actor-lock.js';

type Deps = {
  store: OrgStore;
  lockActor: LockActor;
  withTransaction: WithTransaction;
  sessions: SessionService;
  audit: AuditService;
  clock: Clock;
};

const viewOf = (r: RoleRow & { members?: number }) => ({
  key: r.key,
  name: r.name,
  description: r.description,
  permissions: [...r.permissions].sort(),
  builtin: r.builtin,
  ...(r.members !== undefined ? { members: r.members } : {}),
});

/** The catalogue as a UI shows it. */
const CATALOGUE = Object.entries(PERMISSIONS).map(([permission, description]) => ({ permission, description }));

/**
 * The org's role catalogue: the preset's roles (fixed) and custom ones. A custom role carries only
 * permissions of the catalogue (the schema's enum) that its creator or editor holds; editing one
 * takes effect at once for everyone who holds it.
 */
export function createRoleService(deps: Deps) {
  const { store, withTransaction, sessions, audit, clock } = deps;

  async function find(orgId: string, key: string, tx: Parameters<OrgStore['rolesByKeys']>[2]) {
    const [role] = await store.rolesByKeys(orgId, [key], tx);
    if (!role) throw orgError('ROLE_NOT_FOUND', 'This organization has no role with that key.');
    return role;
  }

  return {
    async list(orgId: string) {
      return { roles: (await store.listRoles(orgId)).map(viewOf), permissions: CATALOGUE };
    },

    async create(
      actor: Actor,
      input: { key?: string; name: string; description?: string; permissions: Permission[] },
      context: AuditContext,
    ) {
      const key = input.key ?? slugify(input.name, 63).replace(/-/g, '_');
      const role = {
        id: randomUUID(),
        org_id: actor.orgId,
        key,
        name: input.name,
        description: input.description ?? '',
        permissions: [...new Set(input.permissions)],
        builtin: false,
      };
      return withTransaction(async (tx) => {
        actor = await deps.lockActor(actor, tx, ['roles:manage']);
        assertHolds(actor, input.permissions);
        if (!(await store.insertRole(role, tx))) throw orgError('ROLE_EXISTS', `The organization already has a role "${key}".`);
        await audit.record(
          {
            action: 'org.role_created',
            orgId: actor.orgId,
            actorId: actor.userId,
            targetType: 'role',
            targetId: key,
            data: { permissions: role.permissions },
            context,
          },
          tx,
        );
        return viewOf({ ...role, created_at: clock.now(), updated_at: clock.now() });
      });
    },

    /** Edits a custom role; new permissions reach its holders' next tokens, and their current ones are refused. */
    async update(
      actor: Actor,
      key: string,
      patch: { name?: string; description?: string; permissions?: Permission[] },
      context: AuditContext,
    ) {
      return withTransaction(async (tx) => {
        actor = await deps.lockActor(actor, tx, ['roles:manage']);
        const role = await find(actor.orgId, key, tx);
        if (role.builtin) throw orgError('ROLE_BUILTIN', 'The preset\u2019s roles are fixed; create a custom role instead.');
        // Both what it grants now and what it will grant: editing a role is granting and taking away.
        assertHolds(actor, [...(role.permissions as Permission[]), ...(patch.permissions ?? [])]);
        const permissions = patch.permissions ? [...new Set(patch.permissions)] : undefined;
        const updated = await store.updateRole(
          role.id,
          {
            ...(patch.name !== undefined ? { name: patch.name } : {}),
            ...(patch.description !== undefined ? { description: patch.description } : {}),
            ...(permissions ? { permissions } : {}),
          },
          clock.now(),
          tx,
        );
        const changed =
          permissions && (permissions.length !== role.permissions.length || permissions.some((p) => !role.permissions.includes(p)));
        if (changed) {
          const holders = await store.touchHolders(role.id, clock.now(), tx);
          await sessions.rolesChanged(actor.orgId, holders, 'role_edited', tx);
        }
        await audit.record(
          {
            action: 'org.role_updated',
            orgId: actor.orgId,
            actorId: actor.userId,
            targetType: 'role',
            targetId: key,
            data: {
              ...(permissions ? { from: role.permissions, to: permissions } : {}),
              ...(patch.name !== undefined ? { name: patch.name } : {}),
            },
            context,
          },
          tx,
        );
        return viewOf(updated);
      });
    },

    async remove(actor: Actor, key: string, context: AuditContext) {
      await withTransaction(async (tx) => {
        actor = await deps.lockActor(actor, tx, ['roles:manage']);
        const role = await find(actor.orgId, key, tx);
        if (role.builtin) throw orgError('ROLE_BUILTIN', 'The preset\u2019s roles cannot be deleted.');
        assertHolds(actor, role.permissions as Permission[]);
        const holders = await store.roleHolderCount(role.id, tx);
        if (holders > 0)
          throw orgError('ROLE_IN_USE', `${holders} member${holders > 1 ? 's hold' : ' holds'} this role: change their roles first.`);
        await store.deleteRole(role.id, tx);
        await audit.record(
          { action: 'org.role_deleted', orgId: actor.orgId, actorId: actor.userId, targetType: 'role', targetId: key, context },
          tx,
        );
      });
    },
  };
}

export type RoleService = ReturnType<typeof createRoleService>;
