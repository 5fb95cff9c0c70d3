import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { AppError } from '../shared/errors.js';
import { FRAMEWORK_CODES, requestError } from '../shared/common-errors.js';
import { declaredCodes } from './schemas.js';

export const PROBLEM_TYPE_BASE = 'https://tessera.dev/problems/';

type FieldError = { field: string; message: string };

/** Extra body fields a scope adds to its problems (the token endpoint adds OAuth's `error`). */
export type ProblemExtension = (code: string) => Record<string, unknown>;

// RFC 6750 §3: a 401 from the bearer guard says how to authenticate, or that the token failed.
const BEARER_CHALLENGES: Record<string, string> = {
  AUTHENTICATION_REQUIRED: 'Bearer',
  INVALID_TOKEN: 'Bearer error="invalid_token"',
  SESSION_REVOKED: 'Bearer error="invalid_token"',
  TOKEN_STALE: 'Bearer error="invalid_token", error_description="roles changed; refresh"',
};

/** The response headers an error implies; services never set headers themselves. */
function headersFor(error: AppError): Record<string, string> {
  const headers: Record<string, string> = {};
  if (typeof error.data.retry_after === 'number') headers['retry-after'] = String(error.data.retry_after);
  if (error.status === 401 && BEARER_CHALLENGES[error.code]) headers['www-authenticate'] = BEARER_CHALLENGES[error.code];
  return headers;
}

function send(reply: FastifyReply, request: FastifyRequest, error: AppError, extend?: ProblemExtension) {
  return reply
    .status(error.status)
    .headers(headersFor(error))
    .type('application/problem+json')
    .send({
      type: `${PROBLEM_TYPE_BASE}${error.code.toLowerCase().replace(/_/g, '-')}`,
      title: error.title,
      status: error.status,
      detail: error.detail ?? error.title,
      code: error.code,
      request_id: request.id,
      ...error.data,
      ...extend?.(error.code),
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

/** Any thrown value as the AppError it stands for; null for a real failure (a bug, an outage). */
function asAppError(error: FastifyError, request: FastifyRequest): AppError | null {
  if (error instanceof AppError) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const errors = zodFields(error);
    const where = error.validationContext ?? 'body';
    return requestError('VALIDATION_FAILED', `The request ${where} is invalid: ${errors.map((e) => e.field).join(', ')}`, { errors });
  }
  if (isResponseSerializationError(error)) {
    request.log.error({ err: error, route: request.routeOptions.url }, 'response failed its schema');
    return null;
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return requestError('MALFORMED_BODY', 'The body is not valid JSON.');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return requestError('BODY_TOO_LARGE', 'The request body is larger than this server accepts.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return requestError('UNSUPPORTED_MEDIA_TYPE', 'Send application/json.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return requestError('MALFORMED_BODY', 'Content-Length does not match the body.');
  }
  if (error.statusCode === 429) return requestError('RATE_LIMITED', 'Slow down and retry after the time in Retry-After.');
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return new AppError('BAD_REQUEST', error.statusCode, 'Bad request', 'The request could not be processed.');
  }
  return null;
}

/**
 * Strict mode (the tests): a code the route did not declare in its response schema is a broken
 * contract, answered as a 500 so the test that provoked it fails, the way Logto's guard does.
 */
function undeclared(error: AppError, request: FastifyRequest): boolean {
  if (FRAMEWORK_CODES.has(error.code)) return false;
  const responses = request.routeOptions.schema?.response as Record<string, unknown> | undefined;
  if (!responses) return false;
  const codes = declaredCodes(responses[String(error.status)]);
  return !codes?.includes(error.code);
}

export function createProblemHandler(options: { strict: boolean; extend?: ProblemExtension }) {
  return (thrown: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const error = asAppError(thrown, request);
    if (!error) {
      request.log.error({ err: thrown }, 'unhandled error');
      return send(reply, request, requestError('INTERNAL', 'The server could not complete the request.'), options.extend);
    }
    if (options.strict && request.routeOptions.url && undeclared(error, request)) {
      request.log.error(
        { code: error.code, status: error.status, route: request.routeOptions.url },
        'error code not declared by the route',
      );
      return send(
        reply,
        request,
        requestError(
          'UNDECLARED_ERROR',
          `${error.code} (${error.status}) is not declared by ${request.method} ${request.routeOptions.url}.`,
        ),
      );
    }
    return send(reply, request, error, options.extend);
  };
}

/** One place turns every failure into RFC 9457 problem+json; nothing else writes error bodies. */
export function registerProblemHandlers(app: FastifyInstance, options: { strict: boolean }) {
  // Fastify parses text/plain by default and would hand the string to a route's zod schema,
  // which answers 400 as if a JSON field were wrong. A route that takes a body takes JSON (or a
  // form, where registered): anything else is 415. Routes without a body (logout, refresh) still
  // accept and ignore a text/plain one, so such a POST is judged by its guard (auth, CSRF).
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, (request, body, done) => {
    if (request.routeOptions.schema?.body) {
      done(requestError('UNSUPPORTED_MEDIA_TYPE', 'Send application/json.'), undefined);
      return;
    }
    done(null, body);
  });

  app.setNotFoundHandler((request, reply) =>
    send(reply, request, requestError('ROUTE_NOT_FOUND', `No route for ${request.method} ${request.url.split('?')[0]}`)),
  );

  app.setErrorHandler(createProblemHandler(options));
}
