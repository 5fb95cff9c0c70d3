import type { FastifyRequest } from 'fastify';
import { authError } from '../../shared/common-errors.js';
import type { Authenticator } from '../authenticate.js';
import { ACCESS_COOKIE, CSRF_COOKIE, CSRF_HEADER, type Csrf } from '../cookies.js';
import { principalFromAccessToken, type AccessTokenChecks } from './access-token.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Cookie-authenticated unsafe requests (and cookie renewal) must echo the CSRF cookie in the header. */
export function requireCsrf(request: FastifyRequest, csrf: Csrf) {
  const sent = request.headers[CSRF_HEADER];
  if (!csrf.check(Array.isArray(sent) ? sent[0] : sent, request.cookies?.[CSRF_COOKIE])) {
    throw authError('CSRF_TOKEN_INVALID', `Cookie-authenticated requests must echo the ${CSRF_COOKIE} cookie in the X-CSRF-Token header.`);
  }
}

/** Cookie mode: the HttpOnly access cookie, with the double-submit CSRF check on unsafe methods. */
export function cookieAuthenticator(checks: AccessTokenChecks, csrf: Csrf): Authenticator {
  return async (request) => {
    const token = request.cookies?.[ACCESS_COOKIE];
    if (!token) return null;
    const principal = await principalFromAccessToken(token, 'cookie', checks);
    if (!SAFE_METHODS.has(request.method)) requireCsrf(request, csrf);
    return principal;
  };
}
