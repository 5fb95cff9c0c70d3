import { z } from 'zod';
import { email, password, uuid } from '../../http/schemas.js';

export const loginBody = z.strictObject({
  email,
  password,
  org_id: uuid.optional(),
  mode: z.enum(['token', 'cookie']).default('token'),
});

export const tokenPair = z.object({
  status: z.literal('authenticated'),
  access_token: z.string(),
  token_type: z.literal('Bearer'),
  expires_in: z.number().int(),
  refresh_token: z.string(),
  refresh_expires_in: z.number().int(),
  session_id: z.string(),
});

/** Cookie mode: the tokens travel only in HttpOnly cookies; the body carries the CSRF token. */
export const cookieSession = z.object({
  status: z.literal('authenticated'),
  token_type: z.literal('cookie'),
  expires_in: z.number().int(),
  refresh_expires_in: z.number().int(),
  session_id: z.string(),
  csrf_token: z.string(),
});

export const loginResponse = z.union([tokenPair, cookieSession]);

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

export const sessionIdParams = z.strictObject({ id: uuid });
