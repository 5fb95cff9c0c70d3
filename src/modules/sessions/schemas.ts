import { z } from 'zod';
import { uuid } from '../../http/schemas.js';

export const sessionRow = z.object({
  id: z.string(),
  current: z.boolean(),
  user: z.object({ id: z.string(), email: z.string() }),
  roles: z.array(z.string()),
  created_at: z.string(),
  last_seen_at: z.string(),
  expires_at: z.string(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  device: z.string(),
  aal: z.number().int(),
});

export const sessionList = z.object({ sessions: z.array(sessionRow) });
export const revokedCount = z.object({ revoked: z.number().int() });
export const sessionIdParams = z.strictObject({ id: uuid });
