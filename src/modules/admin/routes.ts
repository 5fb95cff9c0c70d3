import type { Routes } from '../../http/types.js';
import { requestContext } from '../../http/context.js';
import { errorResponses } from '../../http/schemas.js';
import { ADMIN_SCOPE, SERVICE_ROUTE_CODES, serviceOf } from '../../http/service-credential.js';
import { orgParams, orgPlan, planBody, revoked, rotation, userParams } from './schemas.js';
import type { AdminService } from './service.js';

/** /v1/admin/*: an operator token (scope admin, its owner an operator now) on every route. */
export const adminRoutes =
  (admin: AdminService): Routes =>
  (app, { requireService }) => {
    const tags = ['admin'];
    const operator = requireService(ADMIN_SCOPE);

    app.post(
      '/v1/admin/users/:id/sessions/revoke-all',
      {
        preHandler: operator,
        schema: { tags, params: userParams, response: { 200: revoked, ...errorResponses(...SERVICE_ROUTE_CODES, 'USER_NOT_FOUND') } },
      },
      async (req) => admin.revokeUserSessions(serviceOf(req), req.params.id, requestContext(req)),
    );

    app.patch(
      '/v1/admin/orgs/:org',
      {
        preHandler: operator,
        schema: {
          tags,
          params: orgParams,
          body: planBody,
          response: { 200: orgPlan, ...errorResponses(...SERVICE_ROUTE_CODES, 'ORG_NOT_FOUND') },
        },
      },
      async (req) => admin.setPlan(serviceOf(req), req.params.org, req.body.plan, requestContext(req)),
    );

    app.post(
      '/v1/admin/keys/rotate',
      { preHandler: operator, schema: { tags, response: { 200: rotation, ...errorResponses(...SERVICE_ROUTE_CODES) } } },
      async (req) => admin.rotateKeys(serviceOf(req), requestContext(req)),
    );
  };
