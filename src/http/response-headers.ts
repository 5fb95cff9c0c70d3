import type { FastifyInstance } from 'fastify';

/**
 * Headers every response gets, set in one place (an onSend hook, so 404s and problem answers
 * get them too):
 * - `X-Content-Type-Options: nosniff`, so no browser second-guesses a declared media type;
 * - `Cache-Control: no-store` unless the route chose its caching itself: private by default.
 *   Tokens, profiles, sessions and security events must never sit in a shared or browser cache,
 *   and a new route is covered without having to remember it. Only public documents (the JWKS,
 *   discovery) opt in to caching, and an error is never cached whatever the route said.
 */
export function registerResponseHeaders(app: FastifyInstance) {
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    if (reply.statusCode >= 400 || !reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });
}
