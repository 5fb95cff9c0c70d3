import { z } from 'zod';
import type { App } from '../../http/types.js';
import { authOf, type Authenticate } from '../../http/authenticate.js';
import { requestContext } from '../../http/context.js';
import { clearSessionCookies, setSessionCookies, type Csrf } from '../../http/cookies.js';
import { noContent, problem } from '../../http/schemas.js';
import type { AccountService } from '../accounts/service.js';
import type { LoginService } from './login.service.js';
import type { SessionService, TokenPair } from './service.js';
import { loginBody, loginResponse, sessionIdParams, sessionRow } from './schemas.js';
import type { FastifyReply } from 'fastify';

/** Cookie mode: tokens go into HttpOnly cookies and the body carries only what a page may see. */
export function cookieResponse(reply: FastifyReply, pair: TokenPair, csrf: Csrf, secure: boolean) {
  const csrfToken = csrf.issue();
  setSessionCookies(reply, pair, csrfToken, secure);
  return {
    status: 'authenticated' as const,
    token_type: 'cookie' as const,
    expires_in: pair.expires_in,
    refresh_expires_in: pair.refresh_expires_in,
    session_id: pair.session_id,
    csrf_token: csrfToken,
  };
}

export function sessionRoutes(
  app: App,
  deps: { login: LoginService; sessions: SessionService; accounts: AccountService; authenticate: Authenticate; csrf: Csrf; cookieSecure: boolean },
) {
  const { login, sessions, accounts, authenticate, csrf, cookieSecure } = deps;
  const tags = ['sessions'];
  const errors = { 400: problem, 401: problem, 403: problem, 404: problem, 429: problem };

  app.post('/v1/login', { schema: { tags, body: loginBody, response: { 200: loginResponse, ...errors } } }, async (req, reply) => {
    const { email, password, org_id, mode } = req.body;
    const pair = await login.login({ email, password, orgId: org_id }, requestContext(req));
    reply.header('cache-control', 'no-store');
    return mode === 'cookie' ? cookieResponse(reply, pair, csrf, cookieSecure) : pair;
  });

  app.post('/v1/logout', { preHandler: authenticate, schema: { tags, response: { 204: noContent, ...errors } } }, async (req, reply) => {
    const auth = authOf(req);
    await sessions.revoke(auth.userId, auth.sessionId, 'logout', requestContext(req));
    clearSessionCookies(reply, cookieSecure);
    return reply.status(204).send(null);
  });

  app.get('/v1/me/sessions', { preHandler: authenticate, schema: { tags, response: { 200: z.object({ sessions: z.array(sessionRow) }), ...errors } } }, async (req) => {
    const auth = authOf(req);
    const user = await accounts.getProfile(auth.userId);
    return { sessions: await sessions.list(auth.userId, auth.sessionId, user.email) };
  });

  app.delete('/v1/me/sessions/:id', { preHandler: authenticate, schema: { tags, params: sessionIdParams, response: { 204: noContent, ...errors } } }, async (req, reply) => {
    const auth = authOf(req);
    await sessions.revoke(auth.userId, req.params.id, 'revoked_by_user', requestContext(req));
    if (req.params.id === auth.sessionId) clearSessionCookies(reply, cookieSecure);
    return reply.status(204).send(null);
  });

  app.post('/v1/me/sessions/revoke-others', { preHandler: authenticate, schema: { tags, response: { 200: z.object({ revoked: z.number().int() }), ...errors } } }, async (req) => {
    const auth = authOf(req);
    return { revoked: await sessions.revokeOthers(auth.userId, auth.sessionId, requestContext(req)) };
  });
}
