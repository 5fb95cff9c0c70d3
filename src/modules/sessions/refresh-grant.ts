import { z } from 'zod';
import type { Grant, TokenPair } from '../tokens/index.js';
import { tokenPair } from '../tokens/index.js';
import type { SessionService } from './service.js';

export const refreshGrantBody = z.strictObject({
  grant_type: z.literal('refresh_token'),
  refresh_token: z.string().min(1).max(512),
});

/** The refresh_token grant (RFC 6749 §6), contributed to the token endpoint: rotation with reuse detection. */
export function refreshGrant(sessions: SessionService): Grant<typeof refreshGrantBody, TokenPair> {
  return {
    type: 'refresh_token',
    schema: refreshGrantBody,
    response: tokenPair,
    errors: ['INVALID_GRANT'],
    exchange: (body, context) => sessions.refresh(body.refresh_token, context),
  };
}
