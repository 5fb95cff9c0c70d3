import type { FastifyRequest } from 'fastify';
import { authError } from '../../shared/common-errors.js';
import type { Authenticator } from '../authenticate.js';
import { CSRF_HEADER, sessionCookieNames, type Csrf } from '../cookies.js';
import { principalFromAccessToken, type AccessTokenChecks } from './access-token.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const csrfRefused = (cookie: string) =>
  authError(
    'CSRF_TOKEN_INVALID',
    `Cookie-authenticated requests must echo the ${cookie} cookie of this session in the X-CSRF-Token header.`,
  );

/**
 * The session a cookie-authenticated request's CSRF token was issued for: the X-CSRF-Token header
 * must echo the CSRF cookie and carry a valid signature. Throws 403 CSRF_TOKEN_INVALID.
 */
export function csrfSession(request: FastifyRequest, csrf: Csrf, secure: boolean): string {
  const name = sessionCookieNames(secure).csrf;
  const sent = request.headers[CSRF_HEADER];
  const sessionId = csrf.sessionOf(Array.isArray(sent) ? sent[0] : sent, request.cookies?.[name]);
  if (!sessionId) throw csrfRefused(name);
  return sessionId;
}

/** Unsafe cookie-authenticated requests: a good CSRF token, issued for the session of the credential used. */
export function requireCsrf(request: FastifyRequest, csrf: Csrf, secure: boolean, sessionId: string) {
  if (csrfSession(request, csrf, secure) !== sessionId) throw csrfRefused(sessionCookieNames(secure).csrf);
}

/** Cookie mode: the HttpOnly access cookie, with the session-bound double-submit CSRF check on unsafe methods. */
export function cookieAuthenticator(checks: AccessTokenChecks, csrf: Csrf, secure: boolean): Authenticator {
  const name = sessionCookieNames(secure).access;
  return async (request) => {
    const token = request.cookies?.[name];
    if (!token) return null;
    const principal = await principalFromAccessToken(token, 'cookie', checks);
    if (!SAFE_METHODS.has(request.method)) requireCsrf(request, csrf, secure, principal.sessionId);
    return principal;
  };
}
