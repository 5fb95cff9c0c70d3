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

function zodFields(error: FastifyError): FieldError[] {
  const issues = (error as unknown as { validation: Array<{ instancePath?: string; message?: string; params?: { issue?: { path?: PropertyKey[]; keys?: string[]; code?: string } } }> }).validation;
  const fields: FieldError[] = [];
  for (const v of issues ?? []) {
    const issue = v.params?.issue;
    const base = (issue?.path ?? []).map(String).join('.') || v.instancePath?.replace(/^\//, '').replace(/\//g, '.') || '';
    if (issue?.code === 'unrecognized_keys' && issue.keys) {
      for (const key of issue.keys) fields.push({ field: base ? `${base}.${key}` : key, message: 'Unknown field' });
    } else {
      fields.push({ field: base || '(body)', message: v.message ?? 'Invalid value' });
    }
  }
  return fields;
}

/** One place turns every failure into RFC 9457 problem+json; nothing else writes error bodies. */
export function registerProblemHandlers(app: FastifyInstance) {
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
