import type { FastifyReply, FastifyRequest } from 'fastify';
import { authError } from '../shared/common-errors.js';
import type { Principal } from './principal.js';
import type { PrincipalRateLimit } from './org-rate-limit.js';

/**
 * One way of proving who is calling. It answers null when the request carries no credential of
 * its kind (the next authenticator gets a turn), a Principal when it does and it is good, and
 * throws when it does and it is bad: a bad credential never falls through to a weaker one.
 */
export type Authenticator = (request: FastifyRequest) => Promise<Principal | null>;

/**
 * The guard routes declare (`preHandler: authenticate`): the first authenticator that recognises
 * the request decides, then the request is counted against its principal's rate limit (per org,
 * or per user). Called without a reply (a public route that reads an optional identity), it only
 * authenticates: such a route keeps its own per-IP limit.
 */
export type Authenticate = (request: FastifyRequest, reply?: FastifyReply) => Promise<void>;

export function createAuthenticate(chain: readonly Authenticator[], options: { rateLimit?: PrincipalRateLimit } = {}): Authenticate {
  const { rateLimit } = options;
  return async function authenticate(request: FastifyRequest, reply?: FastifyReply) {
    for (const authenticator of chain) {
      const principal = await authenticator(request);
      if (principal) {
        request.principal = principal;
        if (rateLimit && reply) await rateLimit(request, reply);
        return;
      }
    }
    throw authError('AUTHENTICATION_REQUIRED', 'This endpoint needs an access token.');
  };
}
