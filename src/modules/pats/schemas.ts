import { z } from 'zod';
import { displayName, uuid } from '../../http/schemas.js';
import { ALL_PERMISSIONS } from '../../shared/permissions.js';
import { tokenExchangeGrant } from '../tokens/schemas.js';

/** RFC 8693 `subject_token_type` of a personal access token. */
export const PAT_TOKEN_TYPE = 'urn:tessera:token-type:pat';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** Live tokens an account may hold at once. */
export const MAX_LIVE_PATS = 50;
export const MAX_PAT_DAYS = 365;

// A scope is a permission of the catalogue ("admin" is the operators', made by the CLI only).
const scope = z.enum(ALL_PERMISSIONS as [string, ...string[]]);

export const createPatBody = z.strictObject({
  name: displayName,
  org_id: uuid,
  scopes: z
    .array(scope)
    .min(1)
    .max(ALL_PERMISSIONS.length)
    .refine((s) => new Set(s).size === s.length, 'Each scope once'),
  expires_in_days: z.number().int().min(1).max(MAX_PAT_DAYS),
});

export const patView = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  org_id: z.string().nullable(),
  scopes: z.array(z.string()),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  expires_at: z.string(),
});

/** The one answer that carries the secret. */
export const patCreated = patView.omit({ last_used_at: true }).extend({ token: z.string() });

export const patList = z.object({ tokens: z.array(patView) });
/** An org admin's list: whose each token is. */
export const orgPatList = z.object({ tokens: z.array(patView.extend({ user_id: z.string() })) });

export const patParams = z.strictObject({ id: uuid });
export const orgPatParams = z.strictObject({ org: uuid, id: uuid });

/** The token-exchange grant's body: the contract's schema (tokens/schemas.ts). */
export const exchangeBody = tokenExchangeGrant;

export const exchangeResponse = z.object({
  access_token: z.string(),
  issued_token_type: z.literal(ACCESS_TOKEN_TYPE),
  token_type: z.literal('Bearer'),
  expires_in: z.number().int(),
  /** The permissions the access token carries, space-separated (RFC 8693 §2.2.1). */
  scope: z.string(),
});
