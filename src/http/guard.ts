import type { FastifyRequest } from 'fastify';
import { authError } from '../shared/common-errors.js';
import { hasPermissions, type Permission } from '../shared/permissions.js';
import { authOf } from './principal.js';

/**
 * `preHandler: [authenticate, requirePermission('members:invite')]`: the principal's token must
 * carry every permission named. The check is the shared `hasPermissions`, the same one the
 * authorization endpoint for services uses.
 */
export function requirePermission(...required: [Permission, ...Permission[]]) {
  return async function permissionGuard(request: FastifyRequest) {
    const { allowed, missing } = hasPermissions(authOf(request).permissions, required);
    if (!allowed)
      throw authError('PERMISSION_DENIED', `This needs the permission${missing.length > 1 ? 's' : ''} ${missing.join(', ')}.`, { missing });
  };
}
