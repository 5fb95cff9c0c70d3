import { z } from 'zod';
import type { Grant, TokenPair } from '../tokens/index.js';
import { tokenPair } from '../tokens/index.js';
import type { SessionService } from './service.js';

export const refreshGrantBody = z.strictObject({
  grant_type: z.literal('refresh_token'),
  refresh_token: z.string().min(1).max(512),
  // Switch the session's active org (null: none); left out, the session keeps its org.
  org_id: z.uuid().nullable().optional(),
});

/** The refresh_token grant (RFC 6749 §6), contributed to the token endpoint: rotation with reuse detection. */
export function refreshGrant(sessions: SessionService): Grant<typeof refreshGrantBody, TokenPair> {
  return {
    type: 'refresh_token',
    schema: refreshGrantBody,
    response: tokenPair,
    // ORG_*: the org asked for (or the session's) refuses: not a member, or its policy wants a second factor.
    errors: ['INVALID_GRANT', 'ORG_ACCESS_DENIED', 'ORG_MFA_REQUIRED', 'ORG_FACTOR_NOT_ALLOWED'],
    exchange: (body, context) => sessions.refresh(body.refresh_token, context, { orgId: body.org_id }),
  };
}
