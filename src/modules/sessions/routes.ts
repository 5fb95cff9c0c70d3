import type { Routes } from '../../http/types.js';
import { authOf } from '../../http/principal.js';
import { requestContext } from '../../http/context.js';
import { clearSessionCookies } from '../../http/cookies.js';
import { errorResponses, noContent } from '../../http/schemas.js';
import type { SessionService } from './service.js';
import { revokedCount, sessionIdParams, sessionList } from './schemas.js';
import { AUTHENTICATED_ROUTE_CODES } from '../../shared/common-errors.js';

const AUTH_ERRORS = AUTHENTICATED_ROUTE_CODES;

export const sessionRoutes =
  (sessions: SessionService, userEmail: (userId: string) => Promise<string>): Routes =>
  (app, { authenticate, cookieSecure }) => {
    const tags = ['sessions'];

    app.post(
      '/v1/logout',
      { preHandler: authenticate, schema: { tags, response: { 204: noContent, ...errorResponses(...AUTH_ERRORS, 'SESSION_NOT_FOUND') } } },
      async (req, reply) => {
        const auth = authOf(req);
        await sessions.revoke(auth.userId, auth.sessionId, 'logout', requestContext(req));
        clearSessionCookies(reply, cookieSecure);
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/v1/me/sessions',
      { preHandler: authenticate, schema: { tags, response: { 200: sessionList, ...errorResponses(...AUTH_ERRORS, 'USER_NOT_FOUND') } } },
      async (req) => {
        const auth = authOf(req);
        return { sessions: await sessions.list(auth.userId, auth.sessionId, await userEmail(auth.userId)) };
      },
    );

    app.delete(
      '/v1/me/sessions/:id',
      {
        preHandler: authenticate,
        schema: { tags, params: sessionIdParams, response: { 204: noContent, ...errorResponses(...AUTH_ERRORS, 'SESSION_NOT_FOUND') } },
      },
      async (req, reply) => {
        const auth = authOf(req);
        await sessions.revoke(auth.userId, req.params.id, 'revoked_by_user', requestContext(req));
        if (req.params.id === auth.sessionId) clearSessionCookies(reply, cookieSecure);
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/v1/me/sessions/revoke-others',
      { preHandler: authenticate, schema: { tags, response: { 200: revokedCount, ...errorResponses(...AUTH_ERRORS) } } },
      async (req) => {
        const auth = authOf(req);
        return { revoked: await sessions.revokeOthers(auth.userId, auth.sessionId, requestContext(req)) };
      },
    );
  };
