import type { FastifyRequest } from 'fastify';
import type { AccessTokenClaims } from '../sdk/index.js';
import { authError } from '../shared/common-errors.js';

/** Who is calling, whichever authenticator recognised them. */
export type Principal = {
  userId: string;
  sessionId: string;
  orgId: string | null;
  permissions: readonly string[];
  claims: AccessTokenClaims;
  via: 'bearer' | 'cookie';
};

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** For handlers behind `authenticate`: the guard guarantees the principal is set. */
export function authOf(request: FastifyRequest): Principal {
  if (!request.principal) throw authError('AUTHENTICATION_REQUIRED');
  return request.principal;
}
