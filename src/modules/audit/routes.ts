import { z } from 'zod';
import type { App } from '../../http/types.js';
import { authOf, type Authenticate } from '../../http/authenticate.js';
import { problem } from '../../http/schemas.js';
import type { AuditService } from './service.js';

const securityEvent = z.object({
  id: z.string(),
  occurred_at: z.string(),
  action: z.string(),
  target_type: z.string().nullable(),
  target_id: z.string().nullable(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
});

export function auditRoutes(app: App, { audit, authenticate }: { audit: AuditService; authenticate: Authenticate }) {
  app.get(
    '/v1/me/security-events',
    {
      preHandler: authenticate,
      schema: {
        tags: ['audit'],
        querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(200).default(50) }),
        response: { 200: z.object({ events: z.array(securityEvent) }), 400: problem, 401: problem },
      },
    },
    async (req) => {
      const rows = await audit.listForActor(authOf(req).userId, req.query.limit);
      return { events: rows.map((r) => ({ ...r, occurred_at: r.occurred_at.toISOString() })) };
    },
  );
}
