import type { Routes } from '../../../http/types.js';
import { authOf } from '../../../http/principal.js';
import { requestContext } from '../../../http/context.js';
import { errorResponses, noContent } from '../../../http/schemas.js';
import { AUTHENTICATED_ROUTE_CODES } from '../../../shared/common-errors.js';
import { actorOf, ORG_GUARD_CODES, type OrgGuard } from '../guard.js';
import type { OrgService } from '../service.js';
import { createOrgBody, orgList, orgParams, orgView, updateOrgBody } from '../schemas.js';

const AUTH = AUTHENTICATED_ROUTE_CODES;
const GUARDED = [...AUTH, ...ORG_GUARD_CODES];

export const orgRoutes =
  (orgs: OrgService, org: OrgGuard): Routes =>
  (app, { authenticate, requireRecentAuth }) => {
    const tags = ['orgs'];

    app.post(
      '/v1/orgs',
      {
        preHandler: authenticate,
        schema: { tags, body: createOrgBody, response: { 201: orgView, ...errorResponses(...AUTH, 'EMAIL_NOT_VERIFIED') } },
      },
      async (req, reply) => {
        const view = await orgs.create(authOf(req).userId, { name: req.body.name, preset: req.body.role_preset }, requestContext(req));
        return reply.status(201).send(view);
      },
    );

    app.get(
      '/v1/orgs',
      { preHandler: authenticate, schema: { tags, response: { 200: orgList, ...errorResponses(...AUTH) } } },
      async (req) => ({
        orgs: await orgs.listMine(authOf(req).userId),
      }),
    );

    app.get(
      '/v1/orgs/:org',
      { preHandler: [authenticate, org()], schema: { tags, params: orgParams, response: { 200: orgView, ...errorResponses(...GUARDED) } } },
      async (req) => orgs.view(authOf(req).userId, req.params.org),
    );

    app.patch(
      '/v1/orgs/:org',
      {
        preHandler: [authenticate, org('org:manage')],
        schema: {
          tags,
          params: orgParams,
          body: updateOrgBody,
          response: { 200: orgView, ...errorResponses(...GUARDED, 'POLICY_LOCKOUT') },
        },
      },
      async (req) => orgs.update(actorOf(req), req.body, requestContext(req)),
    );

    app.delete(
      '/v1/orgs/:org',
      {
        preHandler: [authenticate, org('org:delete'), requireRecentAuth],
        // LAST_OWNER: an agency whose clients have no Owner of their own yet.
        schema: {
          tags,
          params: orgParams,
          response: { 204: noContent, ...errorResponses(...GUARDED, 'REAUTHENTICATION_REQUIRED', 'LAST_OWNER') },
        },
      },
      async (req, reply) => {
        await orgs.remove(actorOf(req), requestContext(req));
        return reply.status(204).send(null);
      },
    );
  };
