import type { FastifyReply, FastifyRequest } from 'fastify';
import { hmac, randomToken, constantTimeEqual } from '../infra/random.js';

export const CSRF_HEADER = 'x-csrf-token';
// The refresh cookie is sent only to the token endpoints, never with ordinary API calls.
const REFRESH_PATH = '/v1/token';

export type SessionCookieNames = { access: string; refresh: string; csrf: string };

/**
 * With Secure cookies the names carry the prefixes browsers enforce: `__Host-` (Secure, Path=/,
 * no Domain, so a sibling subdomain cannot plant or shadow the cookie) where the path is /, and
 * `__Secure-` for the refresh cookie, whose path is the token endpoint. Plain names over plain
 * HTTP (COOKIE_SECURE=false, local development), where browsers refuse prefixed cookies.
 */
export function sessionCookieNames(secure: boolean): SessionCookieNames {
  return secure
    ? { access: '__Host-tessera_at', refresh: '__Secure-tessera_rt', csrf: '__Host-tessera_csrf' }
    : { access: 'tessera_at', refresh: 'tessera_rt', csrf: 'tessera_csrf' };
}

// Session ids are UUIDs; anything without a dot can be carried in front of a token.
const SESSION_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Signed double-submit CSRF tokens bound to a session: "<session id>.<random>.<hmac>", the HMAC
 * covering session id and nonce. The header must equal the cookie and carry a valid signature,
 * so a cookie planted from a sibling subdomain is not enough, and the session it names must be
 * the one of the credential used (access cookie, refresh cookie), so a token obtained for one
 * session (say, the attacker's own) is refused with another's cookies.
 */
export function createCsrf(secrets: Buffer[]) {
  const sign = (secret: Buffer, sessionId: string, nonce: string) => hmac(secret, `${sessionId}.${nonce}`).toString('base64url');
  /** The session a double-submitted token was issued for; null unless header and cookie agree and the signature holds. */
  function sessionOf(header: string | undefined, cookie: string | undefined): string | null {
    if (!header || !cookie || !constantTimeEqual(header, cookie)) return null;
    const [sessionId, nonce, sig, ...rest] = header.split('.');
    if (!sessionId || !nonce || !sig || rest.length || !SESSION_ID.test(sessionId)) return null;
    return secrets.some((s) => constantTimeEqual(sign(s, sessionId, nonce), sig)) ? sessionId : null;
  }
  return {
    issue(sessionId: string): string {
      if (!SESSION_ID.test(sessionId)) throw new Error('a CSRF token is issued for a session id');
      const nonce = randomToken(18);
      return `${sessionId}.${nonce}.${sign(secrets[0], sessionId, nonce)}`;
    },
    sessionOf,
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

/** The refresh cookie also names its session, so a renewal can be matched to the CSRF token before anything is spent. */
const refreshCookieValue = (tokens: SessionTokens) => `${tokens.session_id}.${tokens.refresh_token}`;

/** The refresh cookie's session id and token; null when absent or not of this shape. */
export function readRefreshCookie(request: FastifyRequest, secure: boolean): { sessionId: string; refreshToken: string } | null {
  const value = request.cookies?.[sessionCookieNames(secure).refresh];
  const dot = value?.indexOf('.') ?? -1;
  if (!value || dot < 0) return null;
  const sessionId = value.slice(0, dot);
  const refreshToken = value.slice(dot + 1);
  return SESSION_ID.test(sessionId) && refreshToken ? { sessionId, refreshToken } : null;
}

export function setSessionCookies(reply: FastifyReply, tokens: SessionTokens, csrfToken: string, secure: boolean) {
  const names = sessionCookieNames(secure);
  const base = { httpOnly: true, secure, sameSite: 'strict' as const, path: '/' };
  reply.setCookie(names.access, tokens.access_token, { ...base, maxAge: tokens.expires_in });
  reply.setCookie(names.refresh, refreshCookieValue(tokens), { ...base, path: REFRESH_PATH, maxAge: tokens.refresh_expires_in });
  // Readable by the page's own scripts, which echo it in the header.
  reply.setCookie(names.csrf, csrfToken, { ...base, httpOnly: false, maxAge: tokens.refresh_expires_in });
}

export function clearSessionCookies(reply: FastifyReply, secure: boolean) {
  const names = sessionCookieNames(secure);
  const base = { httpOnly: true, secure, sameSite: 'strict' as const };
  reply.clearCookie(names.access, { ...base, path: '/' });
  reply.clearCookie(names.refresh, { ...base, path: REFRESH_PATH });
  reply.clearCookie(names.csrf, { ...base, httpOnly: false, path: '/' });
}

/** Cookie mode: tokens go into HttpOnly cookies and the body carries only what a page may see. */
export function cookieResponse(reply: FastifyReply, tokens: SessionTokens, csrf: Csrf, secure: boolean) {
  const csrfToken = csrf.issue(tokens.session_id);
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
