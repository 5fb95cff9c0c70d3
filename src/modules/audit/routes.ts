import type { Routes } from '../../http/types.js';
import { authOf } from '../../http/principal.js';
import { errorResponses } from '../../http/schemas.js';
import { AUTHENTICATED_ROUTE_CODES } from '../../shared/common-errors.js';
import type { AuditService } from './service.js';
import { securityEventsQuery, securityEventsResponse } from './schemas.js';

export const auditRoutes =
  (audit: AuditService): Routes =>
  (app, { authenticate }) => {
    app.get(
      '/v1/me/security-events',
      {
        preHandler: authenticate,
        schema: {
          tags: ['audit'],
          querystring: securityEventsQuery,
          response: { 200: securityEventsResponse, ...errorResponses(...AUTHENTICATED_ROUTE_CODES) },
        },
      },
      async (req) => ({ events: await audit.listForActor(authOf(req).userId, req.query.limit) }),
    );
  };
