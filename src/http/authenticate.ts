import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AccessTokens, VerifiedAccess } from '../modules/tokens/access-token.js';
import type { SessionService } from '../modules/sessions/service.js';
import { tokenError } from '../modules/tokens/errors.js';
import { ACCESS_COOKIE, CSRF_COOKIE, CSRF_HEADER, type Csrf } from './cookies.js';

export type Auth = { userId: string; sessionId: string; claims: VerifiedAccess; via: 'bearer' | 'cookie' };

declare module 'fastify' {
  interface FastifyRequest {
    auth?: Auth;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Cookie-authenticated unsafe requests (and cookie renewal) must echo the CSRF cookie in the header. */
export function requireCsrf(request: FastifyRequest, csrf: Csrf) {
  const sent = request.headers[CSRF_HEADER];
  if (!csrf.check(Array.isArray(sent) ? sent[0] : sent, request.cookies?.[CSRF_COOKIE])) {
    throw tokenError('CSRF_TOKEN_INVALID', `Cookie-authenticated requests must echo the ${CSRF_COOKIE} cookie in the X-CSRF-Token header.`);
  }
}

/** Bearer header first, then the access cookie; a cookie on an unsafe method needs the CSRF header. */
export function createAuthenticate({ accessTokens, sessions, csrf }: { accessTokens: AccessTokens; sessions: SessionService; csrf: Csrf }) {
  return async function authenticate(request: FastifyRequest, _reply: FastifyReply) {
    const header = request.headers.authorization;
    let token: string | undefined;
    let via: Auth['via'] = 'bearer';
    if (header) {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match) throw tokenError('INVALID_TOKEN', 'Use "Authorization: Bearer <access token>".');
      token = match[1];
    } else if (request.cookies?.[ACCESS_COOKIE]) {
      token = request.cookies[ACCESS_COOKIE];
      via = 'cookie';
    }
    if (!token) {
      throw tokenError('AUTHENTICATION_REQUIRED', 'This endpoint needs an access token.', {
        headers: { 'www-authenticate': 'Bearer' },
      });
    }
    const claims = await accessTokens.verify(token);
    if (await sessions.isRevoked(claims.sid)) {
      throw tokenError('SESSION_REVOKED', 'This session has been signed out.', {
        headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
      });
    }
    if (via === 'cookie' && !SAFE_METHODS.has(request.method)) requireCsrf(request, csrf);
    request.auth = { userId: claims.sub, sessionId: claims.sid, claims, via };
  };
}

export type Authenticate = ReturnType<typeof createAuthenticate>;

/** For handlers behind `authenticate`: the guard guarantees auth is set. */
export function authOf(request: FastifyRequest): Auth {
  if (!request.auth) throw tokenError('AUTHENTICATION_REQUIRED');
  return request.auth;
}
