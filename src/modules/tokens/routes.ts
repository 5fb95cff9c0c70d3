import formbody from '@fastify/formbody';
import { z } from 'zod';
import type { Routes } from '../../http/types.js';
import { requestContext } from '../../http/context.js';
import { cookieResponse, readRefreshCookie } from '../../http/cookies.js';
import { csrfSession } from '../../http/authenticators/cookie.js';
import { authError } from '../../shared/common-errors.js';
import { createProblemHandler } from '../../http/problem.js';
import { errorResponses } from '../../http/schemas.js';
import type { GrantRegistry } from './grants.js';
import { JWKS_MAX_AGE, JWKS_STALE_WHILE_REVALIDATE } from './keys.service.js';
import type { TokenService } from './service.js';
import { oauthErrorFor, tokenError } from './errors.js';
import { cookieSession, discovery, jwks, type TokenPair } from './schemas.js';

const otherSession = () => authError('CSRF_TOKEN_INVALID', 'The CSRF token was issued for another session than the refresh cookie.');

export const tokenRoutes =
  (tokens: TokenService, grants: GrantRegistry): Routes =>
  async (app, { csrf, cookieSecure, bodyLimit, strict }) => {
    const tags = ['tokens'];
    const [first, ...rest] = grants.bodySchemas();
    const body = z.discriminatedUnion('grant_type', [first, ...rest]);
    const successes = grants.all().map((g) => g.response);
    const success = successes.length === 1 ? successes[0] : z.union(successes);
    const grantErrors = [...new Set(grants.all().flatMap((g) => g.errors))];

    // The OAuth endpoints get form bodies (what OAuth clients send) and RFC 6749 `error` values.
    // Anywhere else a form is what a cross-site <form> can post without a preflight (login CSRF), so it gets 415.
    await app.register(async (scope) => {
      await scope.register(formbody, { bodyLimit });
      scope.setErrorHandler(createProblemHandler({ strict, extend: (code) => ({ error: oauthErrorFor(code) }) }));

      scope.post(
        '/v1/token',
        {
          schema: { tags, body, response: { 200: success, ...errorResponses('INVALID_GRANT', 'UNSUPPORTED_GRANT_TYPE', ...grantErrors) } },
        },
        async (req) => tokens.exchange(req.body as { grant_type: string }, requestContext(req)),
      );

      scope.post(
        '/v1/token/refresh',
        {
          schema: {
            tags,
            // Optional: `{org_id}` switches the session's active org, as the refresh_token grant's org_id does.
            body: z.strictObject({ org_id: z.uuid().nullable().optional() }).nullable().optional(),
            response: { 200: cookieSession, ...errorResponses('INVALID_GRANT', 'CSRF_TOKEN_INVALID', ...grantErrors) },
          },
        },
        async (req, reply) => {
          // The CSRF token must be the refresh cookie's session's, checked before the token is spent.
          const sessionId = csrfSession(req, csrf, cookieSecure);
          const cookie = readRefreshCookie(req, cookieSecure);
          if (!cookie) throw tokenError('INVALID_GRANT', 'No refresh cookie; log in again.');
          if (cookie.sessionId !== sessionId) throw otherSession();
          const pair = (await tokens.exchange(
            {
              grant_type: 'refresh_token',
              refresh_token: cookie.refreshToken,
              org_id: (req.body as { org_id?: string | null } | undefined)?.org_id,
            },
            requestContext(req),
          )) as TokenPair;
          // The session named in the cookie is not signed; the one the grant found is authoritative.
          if (pair.session_id !== sessionId) throw otherSession();
          return cookieResponse(reply, pair, csrf, cookieSecure);
        },
      );
    });

    app.get('/.well-known/jwks.json', { schema: { tags, response: { 200: jwks } } }, async (_req, reply) => {
      // Short enough that a verifier picks up a new key well before it signs (see KEY_ACTIVATION_DELAY_SECONDS).
      reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE}, stale-while-revalidate=${JWKS_STALE_WHILE_REVALIDATE}`);
      return tokens.jwks();
    });

    app.get('/.well-known/openid-configuration', { schema: { tags, response: { 200: discovery } } }, async (_req, reply) => {
      reply.header('cache-control', 'public, max-age=3600');
      return tokens.discovery();
    });
  };
