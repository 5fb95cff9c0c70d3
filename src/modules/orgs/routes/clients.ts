import type { Routes } from '../../../http/types.js';
import { requestContext } from '../../../http/context.js';
import { errorResponses } from '../../../http/schemas.js';
import { AUTHENTICATED_ROUTE_CODES } from '../../../shared/common-errors.js';
import type { Permission } from '../../../shared/permissions.js';
import type { ClientService } from '../clients.js';
import { actorOf, ORG_GUARD_CODES, type OrgGuard } from '../guard.js';
import { clientList, clientView, createClientBody, orgParams } from '../schemas.js';

const GUARDED = [...AUTHENTICATED_ROUTE_CODES, ...ORG_GUARD_CODES];

export const clientRoutes =
  (clients: ClientService, org: OrgGuard): Routes =>
  (app, { authenticate }) => {
    const tags = ['orgs'];

    app.post(
      '/v1/orgs/:org/clients',
      {
        preHandler: [authenticate, org('clients:manage')],
        schema: {
          tags,
          params: orgParams,
          body: createClientBody,
          response: { 201: clientView, ...errorResponses(...GUARDED, 'NOT_AN_AGENCY', 'ESCALATION_DENIED', 'EMAIL_NOT_VERIFIED') },
        },
      },
      async (req, reply) => {
        const { name, role_preset, permissions } = req.body;
        const view = await clients.create(
          actorOf(req),
          { name, preset: role_preset, permissions: permissions as Permission[] | undefined },
          requestContext(req),
        );
        return reply.status(201).send(view);
      },
    );

    app.get(
      '/v1/orgs/:org/clients',
      {
        preHandler: [authenticate, org('clients:manage')],
        schema: { tags, params: orgParams, response: { 200: clientList, ...errorResponses(...GUARDED) } },
      },
      async (req) => ({ clients: await clients.list(actorOf(req).orgId) }),
    );
  };
