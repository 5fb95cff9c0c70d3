import type { Routes } from '../../http/types.js';
import { authOf } from '../../http/principal.js';
import { requestContext } from '../../http/context.js';
import { errorResponses, noContent } from '../../http/schemas.js';
import { AUTHENTICATED_ROUTE_CODES } from '../../shared/common-errors.js';
import type { OrgGuard } from '../orgs/guard.js';
import { actorOf, ORG_GUARD_CODES } from '../orgs/guard.js';
import { createPatBody, orgPatList, orgPatParams, patCreated, patList, patParams } from './schemas.js';
import type { PatService } from './service.js';

const AUTH = AUTHENTICATED_ROUTE_CODES;
const ORG_GUARDED = [...AUTH, ...ORG_GUARD_CODES];

/** A user's own tokens under /v1/me/tokens; an org's under /v1/orgs/{org}/tokens for its admins (api:manage). */
export const patRoutes =
  (pats: PatService, org: OrgGuard): Routes =>
  (app, { authenticate, requireRecentAuth }) => {
    const tags = ['tokens'];

    app.post(
      '/v1/me/tokens',
      {
        // A token outlives the session: making one takes a recent authentication (step-up).
        preHandler: [authenticate, requireRecentAuth],
        schema: {
          tags,
          body: createPatBody,
          response: {
            201: patCreated,
            ...errorResponses(
              ...AUTH,
              'REAUTHENTICATION_REQUIRED',
              'USER_NOT_FOUND',
              'ORG_NOT_FOUND',
              'ESCALATION_DENIED',
              'PAT_LIMIT_REACHED',
            ),
          },
        },
      },
      async (req, reply) => {
        const created = await pats.create(authOf(req).userId, req.body, requestContext(req));
        return reply.status(201).send(created);
      },
    );

    app.get(
      '/v1/me/tokens',
      { preHandler: authenticate, schema: { tags, response: { 200: patList, ...errorResponses(...AUTH) } } },
      async (req) => ({ tokens: await pats.list(authOf(req).userId) }),
    );

    app.delete(
      '/v1/me/tokens/:id',
      {
        preHandler: authenticate,
        schema: { tags, params: patParams, response: { 204: noContent, ...errorResponses(...AUTH, 'PAT_NOT_FOUND') } },
      },
      async (req, reply) => {
        await pats.revoke(authOf(req).userId, req.params.id, requestContext(req));
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/v1/orgs/:org/tokens',
      {
        preHandler: [authenticate, org('api:manage')],
        schema: { tags, params: orgPatParams.pick({ org: true }), response: { 200: orgPatList, ...errorResponses(...ORG_GUARDED) } },
      },
      async (req) => ({ tokens: await pats.listOrg(actorOf(req).orgId) }),
    );

    app.delete(
      '/v1/orgs/:org/tokens/:id',
      {
        preHandler: [authenticate, org('api:manage')],
        schema: { tags, params: orgPatParams, response: { 204: noContent, ...errorResponses(...ORG_GUARDED, 'PAT_NOT_FOUND') } },
      },
      async (req, reply) => {
        const actor = actorOf(req);
        await pats.revokeInOrg(actor.userId, actor.orgId, req.params.id, requestContext(req));
        return reply.status(204).send(null);
      },
    );
  };
