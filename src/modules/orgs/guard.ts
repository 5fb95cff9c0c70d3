import type { FastifyRequest } from 'fastify';
import { authOf } from '../../http/principal.js';
import { authError } from '../../shared/common-errors.js';
import { hasPermissions, type Permission } from '../../shared/permissions.js';
import type { OrgAccessResolver } from './access.js';
import { aalAllowed } from './policy.js';
import { orgError } from './errors.js';
import type { Actor } from './members.js';

declare module 'fastify' {
  interface FastifyRequest {
    orgActor?: Actor;
  }
}

/** The codes an org route's guard may answer (beyond authentication's). */
export const ORG_GUARD_CODES = ['ORG_NOT_FOUND', 'ORG_TOKEN_REQUIRED', 'ORG_MFA_REQUIRED', 'PERMISSION_DENIED'] as const;

/**
 * The route guard of `/v1/orgs/{org}/...` (after `authenticate`): the caller's access to `{org}`
 * is read fresh (a role change counts at once), an org they have no access to is 404 whatever
 * the route (it is not shown to exist), the token must be one issued for this org (so the org's
 * policy, checked when it was issued: second factor, allowed factors, session lifetimes, holds
 * for every request), and the permissions are checked by the shared `hasPermissions`.
 */
export function createOrgGuard(access: OrgAccessResolver) {
  return (...required: Permission[]) =>
    async function orgGuard(request: FastifyRequest) {
      const { userId, claims } = authOf(request);
      const orgId = (request.params as { org?: string }).org;
      const found = orgId ? await access.resolve(userId, orgId) : null;
      if (!found) throw orgError('ORG_NOT_FOUND', 'No organization of yours has that id.');
      if (claims.org_id !== orgId) {
        throw orgError('ORG_TOKEN_REQUIRED', 'Use an access token for this organization: refresh with its org_id (POST /v1/token) first.');
      }
      // A policy tightened since the token was issued: a second factor it now requires.
      if (!aalAllowed(found.policy, claims.aal, found.graceOver)) {
        throw orgError('ORG_MFA_REQUIRED', 'This organization requires two-step authentication: sign in again with a second factor.');
      }
      const { allowed, missing } = hasPermissions(found.permissions, required);
      if (!allowed)
        throw authError('PERMISSION_DENIED', `This needs the permission${missing.length > 1 ? 's' : ''} ${missing.join(', ')}.`, {
          missing,
        });
      request.orgActor = { ...found, userId };
    };
}

export type OrgGuard = ReturnType<typeof createOrgGuard>;

export function actorOf(request: FastifyRequest): Actor {
  if (!request.orgActor) throw orgError('ORG_NOT_FOUND');
  return request.orgActor;
}
