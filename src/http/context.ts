import type { FastifyRequest } from 'fastify';
import type { AuditContext } from '../modules/audit/service.js';

/** What services are told about where a request came from (plain data, no Fastify types). */
export function requestContext(request: FastifyRequest): AuditContext & { ip: string } {
  return { ip: request.ip, userAgent: request.headers['user-agent'] ?? null };
}
