import formbody from '@fastify/formbody';
import { z } from 'zod';
import type { Routes } from '../../http/types.js';
import { requestContext } from '../../http/context.js';
import { REFRESH_COOKIE, cookieResponse } from '../../http/cookies.js';
import { requireCsrf } from '../../http/authenticators/cookie.js';
import { createProblemHandler } from '../../http/problem.js';
import { errorResponses } from '../../http/schemas.js';
import type { GrantRegistry } from './grants.js';
import type { TokenService } from './service.js';
import { oauthErrorFor, tokenError } from './errors.js';
import { cookieSession, discovery, jwks, type TokenPair } from './schemas.js';

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
        async (req, reply) => {
          reply.header('cache-control', 'no-store');
          return tokens.exchange(req.body as { grant_type: string }, requestContext(req));
        },
      );

      scope.post(
        '/v1/token/refresh',
        { schema: { tags, response: { 200: cookieSession, ...errorResponses('INVALID_GRANT', 'CSRF_TOKEN_INVALID', ...grantErrors) } } },
        async (req, reply) => {
          reply.header('cache-control', 'no-store');
          requireCsrf(req, csrf);
          const refreshToken = req.cookies[REFRESH_COOKIE];
          if (!refreshToken) throw tokenError('INVALID_GRANT', 'No refresh cookie; log in again.');
          const pair = (await tokens.exchange(
            { grant_type: 'refresh_token', refresh_token: refreshToken },
            requestContext(req),
          )) as TokenPair;
          return cookieResponse(reply, pair, csrf, cookieSecure);
        },
      );
    });

    app.get('/.well-known/jwks.json', { schema: { tags, response: { 200: jwks } } }, async (_req, reply) => {
      // Short enough that a verifier picks up a rotated key well within a token's lifetime.
      reply.header('cache-control', 'public, max-age=300, stale-while-revalidate=60');
      return tokens.jwks();
    });

    app.get('/.well-known/openid-configuration', { schema: { tags, response: { 200: discovery } } }, async (_req, reply) => {
      reply.header('cache-control', 'public, max-age=3600');
      return tokens.discovery();
    });
  };
