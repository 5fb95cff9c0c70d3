import type { FastifyRequest } from 'fastify';
import { authError } from '../shared/common-errors.js';
import type { Principal } from './principal.js';

/**
 * One way of proving who is calling. It answers null when the request carries no credential of
 * its kind (the next authenticator gets a turn), a Principal when it does and it is good, and
 * throws when it does and it is bad: a bad credential never falls through to a weaker one.
 */
export type Authenticator = (request: FastifyRequest) => Promise<Principal | null>;

/** The guard routes declare (`preHandler: authenticate`): the first authenticator that recognises the request decides. */
export function createAuthenticate(chain: readonly Authenticator[]) {
  return async function authenticate(request: FastifyRequest) {
    for (const authenticator of chain) {
      const principal = await authenticator(request);
      if (principal) {
        request.principal = principal;
        return;
      }
    }
    throw authError('AUTHENTICATION_REQUIRED', 'This endpoint needs an access token.');
  };
}

export type Authenticate = ReturnType<typeof createAuthenticate>;
