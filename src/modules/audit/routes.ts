import type { Routes } from '../../http/types.js';
import { authOf } from '../../http/principal.js';
import { errorResponses } from '../../http/schemas.js';
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
          response: { 200: securityEventsResponse, ...errorResponses('AUTHENTICATION_REQUIRED', 'INVALID_TOKEN', 'SESSION_REVOKED') },
        },
      },
      async (req) => ({ events: await audit.listForActor(authOf(req).userId, req.query.limit) }),
    );
  };
