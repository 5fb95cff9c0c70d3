import formbody from '@fastify/formbody';
import type { FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Routes } from '../../http/types.js';
import { errorResponses } from '../../http/schemas.js';
import { serviceOf } from '../../http/service-credential.js';
import { authError } from '../../shared/common-errors.js';
import { AppError } from '../../shared/errors.js';
import type { Permission } from '../../shared/permissions.js';
import type { Introspection } from './service.js';
import { authzBody, authzResponse, introspectBody, introspectResponse } from './schemas.js';

const SCOPE = 'tokens:introspect';

/** POST /v1/introspect (RFC 7662) and POST /v1/authz/check, for services holding a `tokens:introspect` credential. */
export const introspectionRoutes =
  (introspection: Introspection): Routes =>
  async (app, { requireService, bodyLimit }) => {
    const tags = ['introspection'];
    const guard = requireService(SCOPE);
    // RFC 7662 §2.2: a caller not allowed to introspect gets 401, whether its credential is missing,
    // bad or merely lacks the scope.
    const introspector = async (request: FastifyRequest) => {
      try {
        await guard(request);
      } catch (err) {
        if (err instanceof AppError && err.code === 'PERMISSION_DENIED') {
          throw authError('INVALID_TOKEN', `This credential may not introspect tokens: it needs the scope ${SCOPE}.`);
        }
        throw err;
      }
    };
    const caller = (request: FastifyRequest) => {
      const { userId, orgId, operator } = serviceOf(request);
      return { userId, orgId, operator };
    };
    // RATE_LIMITED: too many unknown credentials from the address (the lookup throttle).
    const AUTH = ['AUTHENTICATION_REQUIRED', 'INVALID_TOKEN', 'RATE_LIMITED'];

    // RFC 7662 clients send form bodies; JSON is taken too.
    await app.register(async (plain) => {
      await plain.register(formbody, { bodyLimit });
      const scope = plain.withTypeProvider<ZodTypeProvider>();
      scope.post(
        '/v1/introspect',
        {
          preHandler: introspector,
          schema: { tags, body: introspectBody, response: { 200: introspectResponse, ...errorResponses(...AUTH) } },
        },
        async (req) => introspection.introspect(caller(req), req.body.token),
      );
      scope.post(
        '/v1/authz/check',
        { preHandler: introspector, schema: { tags, body: authzBody, response: { 200: authzResponse, ...errorResponses(...AUTH) } } },
        async (req) => {
          const { token, user_id, org_id, permissions } = req.body;
          return introspection.check(caller(req), { token, userId: user_id, orgId: org_id, permissions: permissions as Permission[] });
        },
      );
    });
  };
