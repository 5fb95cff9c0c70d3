import { z } from 'zod';

export const refreshGrant = z.strictObject({
  grant_type: z.literal('refresh_token'),
  refresh_token: z.string().min(1).max(512),
});

// Accepted so the contract is visible; PAT exchange arrives with personal access tokens.
export const tokenExchangeGrant = z.strictObject({
  grant_type: z.literal('urn:ietf:params:oauth:grant-type:token-exchange'),
  subject_token: z.string().min(1).max(512),
  subject_token_type: z.string().min(1).max(200),
});

export const tokenBody = z.discriminatedUnion('grant_type', [refreshGrant, tokenExchangeGrant]);

export const jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())) });
