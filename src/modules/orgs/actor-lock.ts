import type { Tx } from '../../infra/db/unit-of-work.js';
import { authError } from '../../shared/common-errors.js';
import { hasPermissions, type Permission } from '../../shared/permissions.js';
import type { Actor, OrgAccessResolver } from './access.js';
import { orgError } from './errors.js';
import type { OrgRow, OrgStore } from './store.js';

/**
 * Takes the org's lock and reads the actor's access again under it. The route guard read it
 * before the lock: an actor demoted (or removed) by a change that committed meanwhile acts with
 * what they hold now, not with what they held when the request arrived.
 */
export function createActorLock(store: OrgStore, access: OrgAccessResolver) {
  return async function lockActor(actor: Actor, tx: Tx, required: readonly Permission[] = []): Promise<Actor & { org: OrgRow }> {
    const org = await store.lockOrg(actor.orgId, tx);
    // Committed changes are all visible now: every change to the org's members takes this lock first.
    const now = org ? await access.resolve(actor.userId, actor.orgId, tx) : null;
    if (!org || !now) throw orgError('ORG_NOT_FOUND', 'No organization of yours has that id.');
    const { allowed, missing } = hasPermissions(now.permissions, [...required]);
    if (!allowed)
      throw authError('PERMISSION_DENIED', `This needs the permission${missing.length > 1 ? 's' : ''} ${missing.join(', ')}.`, { missing });
    return { ...now, userId: actor.userId, org };
  };
}

export type LockActor = ReturnType<typeof createActorLock>;
