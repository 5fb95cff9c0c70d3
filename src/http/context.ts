import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../shared/context.js';

/** What services are told about where a request came from (plain data, no Fastify types). */
export function requestContext(request: FastifyRequest): RequestContext {
  return { ip: request.ip, userAgent: request.headers['user-agent'] ?? null };
}
