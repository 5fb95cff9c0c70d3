import type { Routes } from '../../../http/types.js';
import { requestContext } from '../../../http/context.js';
import { errorResponses, noContent } from '../../../http/schemas.js';
import { AUTHENTICATED_ROUTE_CODES } from '../../../shared/common-errors.js';
import { actorOf, ORG_GUARD_CODES, type OrgGuard } from '../guard.js';
import type { MemberService } from '../members.js';
import { memberList, memberParams, memberRoles, memberSessions, memberSignedOut, orgParams, setRolesBody } from '../schemas.js';

const GUARDED = [...AUTHENTICATED_ROUTE_CODES, ...ORG_GUARD_CODES];

export const teamRoutes =
  (members: MemberService, org: OrgGuard): Routes =>
  (app, { authenticate }) => {
    const tags = ['orgs'];

    app.get(
      '/v1/orgs/:org/members',
      {
        preHandler: [authenticate, org('members:read')],
        schema: { tags, params: orgParams, response: { 200: memberList, ...errorResponses(...GUARDED) } },
      },
      async (req) => {
        const actor = actorOf(req);
        return { members: await members.list(actor.orgId, actor.policy) };
      },
    );

    app.patch(
      '/v1/orgs/:org/members/:user',
      {
        preHandler: [authenticate, org('members:manage')],
        schema: {
          tags,
          params: memberParams,
          body: setRolesBody,
          response: {
            200: memberRoles,
            ...errorResponses(...GUARDED, 'MEMBER_NOT_FOUND', 'ROLE_UNKNOWN', 'ESCALATION_DENIED', 'OWNER_REQUIRED', 'LAST_OWNER'),
          },
        },
      },
      async (req) => members.setRoles(actorOf(req), req.params.user, req.body.roles, requestContext(req)),
    );

    // Leaving needs no permission: the guard is membership alone, the service checks members:manage for anyone else.
    app.delete(
      '/v1/orgs/:org/members/:user',
      {
        preHandler: [authenticate, org()],
        schema: {
          tags,
          params: memberParams,
          response: {
            204: noContent,
            ...errorResponses(...GUARDED, 'MEMBER_NOT_FOUND', 'ESCALATION_DENIED', 'OWNER_REQUIRED', 'LAST_OWNER'),
          },
        },
      },
      async (req, reply) => {
        await members.remove(actorOf(req), req.params.user, requestContext(req));
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/v1/orgs/:org/members/:user/sessions',
      {
        preHandler: [authenticate, org('sessions:manage')],
        schema: {
          tags,
          params: memberParams,
          response: { 200: memberSessions, ...errorResponses(...GUARDED, 'MEMBER_NOT_FOUND', 'OWNER_REQUIRED') },
        },
      },
      async (req) => ({ sessions: await members.sessions(actorOf(req), req.params.user) }),
    );

    app.post(
      '/v1/orgs/:org/members/:user/sessions/revoke-all',
      {
        preHandler: [authenticate, org('sessions:manage')],
        schema: {
          tags,
          params: memberParams,
          response: { 200: memberSignedOut, ...errorResponses(...GUARDED, 'MEMBER_NOT_FOUND', 'OWNER_REQUIRED') },
        },
      },
      async (req) => members.revokeSessions(actorOf(req), req.params.user, requestContext(req)),
    );
  };
