import type { FastifyReply } from 'fastify';
import { hmac, randomToken, constantTimeEqual } from '../infra/random.js';

export const ACCESS_COOKIE = 'tessera_at';
export const REFRESH_COOKIE = 'tessera_rt';
export const CSRF_COOKIE = 'tessera_csrf';
export const CSRF_HEADER = 'x-csrf-token';
// The refresh cookie is sent only to the token endpoints, never with ordinary API calls.
const REFRESH_PATH = '/v1/token';

/**
 * Signed double-submit CSRF tokens: "<random>.<hmac>". The header must equal the cookie and
 * carry a valid signature, so a cookie planted from a sibling subdomain is not enough.
 */
export function createCsrf(secrets: Buffer[]) {
  return {
    issue(): string {
      const nonce = randomToken(18);
      return `${nonce}.${hmac(secrets[0], nonce).toString('base64url')}`;
    },
    check(header: string | undefined, cookie: string | undefined): boolean {
      if (!header || !cookie || !constantTimeEqual(header, cookie)) return false;
      const [nonce, sig] = header.split('.');
      if (!nonce || !sig) return false;
      return secrets.some((s) => constantTimeEqual(hmac(s, nonce).toString('base64url'), sig));
    },
  };
}

export type Csrf = ReturnType<typeof createCsrf>;

/** What a grant or a login hands over, as far as cookies are concerned. */
export type SessionTokens = {
  access_token: string;
  expires_in: number;
  refresh_token: string;
  refresh_expires_in: number;
  session_id: string;
};

export function setSessionCookies(reply: FastifyReply, tokens: SessionTokens, csrfToken: string, secure: boolean) {
  const base = { httpOnly: true, secure, sameSite: 'strict' as const, path: '/' };
  reply.setCookie(ACCESS_COOKIE, tokens.access_token, { ...base, maxAge: tokens.expires_in });
  reply.setCookie(REFRESH_COOKIE, tokens.refresh_token, { ...base, path: REFRESH_PATH, maxAge: tokens.refresh_expires_in });
  // Readable by the page's own scripts, which echo it in the header.
  reply.setCookie(CSRF_COOKIE, csrfToken, { ...base, httpOnly: false, maxAge: tokens.refresh_expires_in });
}

export function clearSessionCookies(reply: FastifyReply, secure: boolean) {
  const base = { httpOnly: true, secure, sameSite: 'strict' as const };
  reply.clearCookie(ACCESS_COOKIE, { ...base, path: '/' });
  reply.clearCookie(REFRESH_COOKIE, { ...base, path: REFRESH_PATH });
  reply.clearCookie(CSRF_COOKIE, { ...base, httpOnly: false, path: '/' });
}

/** Cookie mode: tokens go into HttpOnly cookies and the body carries only what a page may see. */
export function cookieResponse(reply: FastifyReply, tokens: SessionTokens, csrf: Csrf, secure: boolean) {
  const csrfToken = csrf.issue();
  setSessionCookies(reply, tokens, csrfToken, secure);
  return {
    status: 'authenticated' as const,
    token_type: 'cookie' as const,
    expires_in: tokens.expires_in,
    refresh_expires_in: tokens.refresh_expires_in,
    session_id: tokens.session_id,
    csrf_token: csrfToken,
  };
}
