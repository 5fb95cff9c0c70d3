import type { Routes } from '../../../http/types.js';
import { requestContext } from '../../../http/context.js';
import { errorResponses, noContent } from '../../../http/schemas.js';
import { AUTHENTICATED_ROUTE_CODES } from '../../../shared/common-errors.js';
import type { Permission } from '../../../shared/permissions.js';
import { actorOf, ORG_GUARD_CODES, type OrgGuard } from '../guard.js';
import type { RoleService } from '../roles.js';
import { createRoleBody, orgParams, roleList, roleParams, roleView, updateRoleBody } from '../schemas.js';

const GUARDED = [...AUTHENTICATED_ROUTE_CODES, ...ORG_GUARD_CODES];

export const roleRoutes =
  (roles: RoleService, org: OrgGuard): Routes =>
  (app, { authenticate }) => {
    const tags = ['orgs'];

    app.get(
      '/v1/orgs/:org/roles',
      {
        preHandler: [authenticate, org('members:read')],
        schema: { tags, params: orgParams, response: { 200: roleList, ...errorResponses(...GUARDED) } },
      },
      async (req) => roles.list(actorOf(req).orgId),
    );

    app.post(
      '/v1/orgs/:org/roles',
      {
        preHandler: [authenticate, org('roles:manage')],
        schema: {
          tags,
          params: orgParams,
          body: createRoleBody,
          response: { 201: roleView, ...errorResponses(...GUARDED, 'ESCALATION_DENIED', 'ROLE_EXISTS') },
        },
      },
      async (req, reply) => {
        const body = { ...req.body, permissions: req.body.permissions as Permission[] };
        return reply.status(201).send(await roles.create(actorOf(req), body, requestContext(req)));
      },
    );

    app.patch(
      '/v1/orgs/:org/roles/:role',
      {
        preHandler: [authenticate, org('roles:manage')],
        schema: {
          tags,
          params: roleParams,
          body: updateRoleBody,
          response: { 200: roleView, ...errorResponses(...GUARDED, 'ROLE_NOT_FOUND', 'ROLE_BUILTIN', 'ESCALATION_DENIED') },
        },
      },
      async (req) =>
        roles.update(
          actorOf(req),
          req.params.role,
          { ...req.body, permissions: req.body.permissions as Permission[] | undefined },
          requestContext(req),
        ),
    );

    app.delete(
      '/v1/orgs/:org/roles/:role',
      {
        preHandler: [authenticate, org('roles:manage')],
        schema: {
          tags,
          params: roleParams,
          response: { 204: noContent, ...errorResponses(...GUARDED, 'ROLE_NOT_FOUND', 'ROLE_BUILTIN', 'ROLE_IN_USE', 'ESCALATION_DENIED') },
        },
      },
      async (req, reply) => {
        await roles.remove(actorOf(req), req.params.role, requestContext(req));
        return reply.status(204).send(null);
      },
    );
  };
