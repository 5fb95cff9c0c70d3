import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { AppError } from './app-error.js';

export const PROBLEM_TYPE_BASE = 'https://tessera.dev/problems/';

type FieldError = { field: string; message: string };

function send(
  reply: FastifyReply,
  request: FastifyRequest,
  status: number,
  code: string,
  title: string,
  detail?: string,
  extra: Record<string, unknown> = {},
) {
  return reply
    .status(status)
    .type('application/problem+json')
    .send({
      type: `${PROBLEM_TYPE_BASE}${code.toLowerCase().replace(/_/g, '-')}`,
      title,
      status,
      detail: detail ?? title,
      code,
      request_id: request.id,
      ...extra,
    });
}

/**
 * fastify-type-provider-zod turns each zod issue into an Ajv-style entry: `keyword` is the
 * issue code, `instancePath` its path ("/a/b", "/" at the root) and `params` the rest of the
 * issue (for unknown fields, `keys`). Each unknown key is listed as a field of its own.
 */
function zodFields(error: FastifyError): FieldError[] {
  type Entry = { keyword?: string; instancePath?: string; message?: string; params?: { keys?: unknown } };
  const entries = (error as unknown as { validation?: Entry[] }).validation ?? [];
  const fields: FieldError[] = [];
  for (const v of entries) {
    const base = (v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
    const keys = v.params?.keys;
    if (v.keyword === 'unrecognized_keys' && Array.isArray(keys)) {
      for (const key of keys) fields.push({ field: base ? `${base}.${String(key)}` : String(key), message: 'Unknown field' });
    } else {
      fields.push({ field: base || '(body)', message: v.message ?? 'Invalid value' });
    }
  }
  return fields;
}

/** One place turns every failure into RFC 9457 problem+json; nothing else writes error bodies. */
export function registerProblemHandlers(app: FastifyInstance) {
  // Fastify parses text/plain by default and would hand the string to a route's zod schema,
  // which answers 400 as if a JSON field were wrong. A route that takes a body takes JSON (or a
  // form, where registered): anything else is 415. Routes without a body (logout, refresh) still
  // accept and ignore a text/plain one, so such a POST is judged by its guard (auth, CSRF).
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, (request, body, done) => {
    if (request.routeOptions.schema?.body) {
      done(new AppError('UNSUPPORTED_MEDIA_TYPE', 415, 'Unsupported media type', 'Send application/json.'), undefined);
      return;
    }
    done(null, body);
  });

  app.setNotFoundHandler((request, reply) =>
    send(reply, request, 404, 'ROUTE_NOT_FOUND', 'Not found', `No route for ${request.method} ${request.url.split('?')[0]}`),
  );

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AppError) {
      reply.headers(error.headers);
      return send(reply, request, error.status, error.code, error.title, error.detail, error.extra);
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const errors = zodFields(error);
      const where = error.validationContext ?? 'body';
      return send(reply, request, 400, 'VALIDATION_FAILED', 'Invalid request', `The request ${where} is invalid: ${errors.map((e) => e.field).join(', ')}`, { errors });
    }
    if (isResponseSerializationError(error)) {
      request.log.error({ err: error, route: request.routeOptions.url }, 'response failed its schema');
      return send(reply, request, 500, 'INTERNAL', 'Internal error', 'The server could not complete the request.');
    }
    switch (error.code) {
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return send(reply, request, 400, 'MALFORMED_BODY', 'Malformed body', 'The body is not valid JSON.');
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return send(reply, request, 413, 'BODY_TOO_LARGE', 'Body too large', 'The request body is larger than this server accepts.');
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return send(reply, request, 415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported media type', 'Send application/json.');
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return send(reply, request, 400, 'MALFORMED_BODY', 'Malformed body', 'Content-Length does not match the body.');
    }
    if (error.statusCode === 429) {
      return send(reply, request, 429, 'RATE_LIMITED', 'Too many requests', 'Slow down and retry after the time in Retry-After.');
    }
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return send(reply, request, error.statusCode, 'BAD_REQUEST', 'Bad request', 'The request could not be processed.');
    }
    request.log.error({ err: error }, 'unhandled error');
    return send(reply, request, 500, 'INTERNAL', 'Internal error', 'The server could not complete the request.');
  });
}
