import { z } from 'zod';
import { uuid } from '../../http/schemas.js';
import { ALL_PERMISSIONS } from '../../shared/permissions.js';

export const introspectBody = z.strictObject({
  token: z.string().min(1).max(4096),
  // RFC 7662 §2.1: a hint the server may ignore (this one does; the token's form says what it is).
  token_type_hint: z.string().max(100).optional(),
});

/** RFC 7662 §2.2: `active` alone for anything not live, else the token's claims. */
export const introspectResponse = z.object({
  active: z.boolean(),
  sub: z.string().optional(),
  sid: z.string().optional(),
  org_id: z.string().nullable().optional(),
  roles: z.array(z.string()).optional(),
  permissions: z.array(z.string()).optional(),
  scope: z.string().optional(),
  exp: z.number().int().optional(),
  iat: z.number().int().optional(),
  amr: z.array(z.string()).optional(),
  aal: z.number().int().optional(),
  token_type: z.string().optional(),
  client_id: z.string().optional(),
  pat_id: z.string().optional(),
  act: z.object({ org_id: z.string() }).optional(),
  plan: z.string().optional(),
});

export const authzBody = z
  .strictObject({
    token: z.string().min(1).max(4096).optional(),
    user_id: uuid.optional(),
    org_id: uuid,
    permissions: z
      .array(z.enum(ALL_PERMISSIONS as [string, ...string[]]))
      .min(1)
      .max(ALL_PERMISSIONS.length),
  })
  .refine((b) => b.token !== undefined || b.user_id !== undefined, 'Give token or user_id');

export const authzResponse = z.object({ allowed: z.boolean(), missing: z.array(z.string()) });
