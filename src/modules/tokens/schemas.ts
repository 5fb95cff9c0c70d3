import { z } from 'zod';

/** What every grant that opens or continues a session answers (RFC 6749 §5.1, plus Tessera's fields). */
export const tokenPair = z.object({
  status: z.literal('authenticated'),
  access_token: z.string(),
  token_type: z.literal('Bearer'),
  expires_in: z.number().int(),
  refresh_token: z.string(),
  refresh_expires_in: z.number().int(),
  session_id: z.string(),
});

export type TokenPair = z.output<typeof tokenPair>;

/** Cookie mode: the tokens travel only in HttpOnly cookies; the body carries the CSRF token. */
export const cookieSession = z.object({
  status: z.literal('authenticated'),
  token_type: z.literal('cookie'),
  expires_in: z.number().int(),
  refresh_expires_in: z.number().int(),
  session_id: z.string(),
  csrf_token: z.string(),
});

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

/**
 * RFC 8693 token exchange. Part of the contract before any module serves it, so clients see the
 * shape; the personal-access-token module registers the grant that answers it.
 */
export const tokenExchangeGrant = z.strictObject({
  grant_type: z.literal(TOKEN_EXCHANGE),
  subject_token: z.string().min(1).max(512),
  subject_token_type: z.string().min(1).max(200),
  // RFC 8693 §2.1: what the client wants back (only an access token is issued), and a narrower scope (space-separated).
  requested_token_type: z.string().min(1).max(200).optional(),
  scope: z.string().min(1).max(2000).optional(),
});

export const jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())) });

export const discovery = z.record(z.string(), z.unknown());
