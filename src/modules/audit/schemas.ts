import { z } from 'zod';

export const securityEvent = z.object({
  id: z.string(),
  occurred_at: z.string(),
  action: z.string(),
  target_type: z.string().nullable(),
  target_id: z.string().nullable(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
});

export const securityEventsQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(200).default(50) });

export const securityEventsResponse = z.object({ events: z.array(securityEvent) });
