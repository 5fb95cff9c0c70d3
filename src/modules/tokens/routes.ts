import { z } from 'zod';
import type { App } from '../../http/types.js';
import { requestContext } from '../../http/context.js';
import { REFRESH_COOKIE, type Csrf } from '../../http/cookies.js';
import { requireCsrf } from '../../http/authenticate.js';
import { problem } from '../../http/schemas.js';
import type { SessionService } from '../sessions/service.js';
import { tokenPair, cookieSession } from '../sessions/schemas.js';
import { cookieResponse } from '../sessions/routes.js';
import type { KeyService } from './keys.service.js';
import { tokenError } from './errors.js';
import { jwks, tokenBody } from './schemas.js';

export function tokenRoutes(
  app: App,
  deps: { sessions: SessionService; keys: KeyService; csrf: Csrf; cookieSecure: boolean; issuer: string; publicUrl: string },
) {
  const { sessions, keys, csrf, cookieSecure } = deps;
  const tags = ['tokens'];
  const errors = { 400: problem, 401: problem, 403: problem, 429: problem };

  app.post('/v1/token', { schema: { tags, body: tokenBody, response: { 200: tokenPair, ...errors } } }, async (req, reply) => {
    reply.header('cache-control', 'no-store');
    const body = req.body;
    if (body.grant_type === 'refresh_token') return sessions.refresh(body.refresh_token, requestContext(req));
    throw tokenError('UNSUPPORTED_GRANT_TYPE', 'Token exchange of personal access tokens is not enabled on this server yet.');
  });

  app.post('/v1/token/refresh', { schema: { tags, response: { 200: cookieSession, ...errors } } }, async (req, reply) => {
    reply.header('cache-control', 'no-store');
    requireCsrf(req, csrf);
    const refreshToken = req.cookies[REFRESH_COOKIE];
    if (!refreshToken) throw tokenError('INVALID_GRANT', 'No refresh cookie; log in again.');
    const pair = await sessions.refresh(refreshToken, requestContext(req));
    return cookieResponse(reply, pair, csrf, cookieSecure);
  });

  app.get('/.well-known/jwks.json', { schema: { tags, response: { 200: jwks } } }, async (_req, reply) => {
    // Short enough that a verifier picks up a rotated key well within a token's lifetime.
    reply.header('cache-control', 'public, max-age=300, stale-while-revalidate=60');
    return keys.jwks();
  });

  app.get('/.well-known/openid-configuration', { schema: { tags, response: { 200: z.record(z.string(), z.unknown()) } } }, async (_req, reply) => {
    reply.header('cache-control', 'public, max-age=3600');
    return {
      issuer: deps.issuer,
      jwks_uri: `${deps.publicUrl}/.well-known/jwks.json`,
      token_endpoint: `${deps.publicUrl}/v1/token`,
      grant_types_supported: ['refresh_token', 'urn:ietf:params:oauth:grant-type:token-exchange'],
      token_endpoint_auth_methods_supported: ['none'],
      id_token_signing_alg_values_supported: keys.algorithms(),
      access_token_signing_alg_values_supported: keys.algorithms(),
      response_types_supported: [],
      subject_types_supported: ['public'],
    };
  });
}
