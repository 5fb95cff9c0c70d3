import { hasPermissions, type Permission } from '../../shared/permissions.js';
import { orgError } from './errors.js';
import type { OrgAccess } from './access.js';
import { OWNER_ROLE } from './presets.js';

/**
 * The escalation rules, in one place: nobody grants or takes away a role carrying a permission
 * they do not hold themselves, and only an Owner grants or takes away Owner.
 */
export function assertMayHandle(
  actor: Pick<OrgAccess, 'permissions' | 'isOwner'>,
  roles: ReadonlyArray<{ key: string; permissions: readonly string[] }>,
) {
  if (!actor.isOwner && roles.some((r) => r.key === OWNER_ROLE)) {
    throw orgError('OWNER_REQUIRED', 'Only an Owner can grant or take away the Owner role.');
  }
  assertHolds(
    actor,
    roles.flatMap((r) => r.permissions as Permission[]),
  );
}

/** The actor holds every one of these permissions (custom roles, another member's permissions). */
export function assertHolds(actor: Pick<OrgAccess, 'permissions'>, permissions: readonly Permission[]) {
  const { allowed, missing } = hasPermissions(actor.permissions, [...new Set(permissions)]);
  if (!allowed) {
    throw orgError('ESCALATION_DENIED', `You cannot grant or take away permissions you do not hold: ${missing.join(', ')}.`, { missing });
  }
}
