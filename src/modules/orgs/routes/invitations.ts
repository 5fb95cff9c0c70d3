import type { FastifyRequest } from 'fastify';
import type { Routes } from '../../../http/types.js';
import { requestContext } from '../../../http/context.js';
import { sessionCookieNames } from '../../../http/cookies.js';
import { errorResponses, noContent } from '../../../http/schemas.js';
import { AUTHENTICATED_ROUTE_CODES } from '../../../shared/common-errors.js';
import { actorOf, ORG_GUARD_CODES, type OrgGuard } from '../guard.js';
import type { InvitationService } from '../invitations.js';
import {
  acceptInvitationBody,
  createInvitationBody,
  invitationAccepted,
  invitationList,
  invitationParams,
  invitationPreview,
  invitationTokenBody,
  invitationView,
  orgParams,
} from '../schemas.js';

const GUARDED = [...AUTHENTICATED_ROUTE_CODES, ...ORG_GUARD_CODES];
const GRANTING = ['ESCALATION_DENIED', 'OWNER_REQUIRED'];
const POLICY = ['PASSWORD_TOO_SHORT', 'PASSWORD_TOO_LONG', 'PASSWORD_TOO_COMMON', 'PASSWORD_CONTAINS_EMAIL'];
const REENTRY = ['INVALID_PASSWORD', 'PASSWORD_ATTEMPTS_THROTTLED', 'USER_NOT_FOUND'];

export const invitationRoutes =
  (invitations: InvitationService, org: OrgGuard): Routes =>
  (app, { authenticate, publicRateLimit, cookieSecure }) => {
    const tags = ['orgs'];
    const accessCookie = sessionCookieNames(cookieSecure).access;

    /**
     * Accepting reads who is calling when the request says (a bearer token or the session cookie),
     * and then as strictly as any authenticated route: a bad credential is refused, never ignored.
     * Without either, the caller is anonymous.
     */
    async function optionalAuthenticate(request: FastifyRequest) {
      if (request.headers.authorization !== undefined || request.cookies?.[accessCookie]) await authenticate(request);
    }

    app.post(
      '/v1/orgs/:org/invitations',
      {
        preHandler: [authenticate, org('members:invite')],
        schema: {
          tags,
          params: orgParams,
          body: createInvitationBody,
          response: {
            201: invitationView,
            ...errorResponses(...GUARDED, ...GRANTING, 'ROLE_UNKNOWN', 'ALREADY_MEMBER', 'INVITATION_PENDING'),
          },
        },
      },
      async (req, reply) => reply.status(201).send(await invitations.invite(actorOf(req), req.body, requestContext(req))),
    );

    app.get(
      '/v1/orgs/:org/invitations',
      {
        preHandler: [authenticate, org('members:invite')],
        schema: { tags, params: orgParams, response: { 200: invitationList, ...errorResponses(...GUARDED) } },
      },
      async (req) => ({ invitations: await invitations.list(actorOf(req).orgId) }),
    );

    app.post(
      '/v1/orgs/:org/invitations/:id/resend',
      {
        preHandler: [authenticate, org('members:invite')],
        schema: {
          tags,
          params: invitationParams,
          response: { 200: invitationView, ...errorResponses(...GUARDED, ...GRANTING, 'INVITATION_NOT_FOUND') },
        },
      },
      async (req) => invitations.resend(actorOf(req), req.params.id, requestContext(req)),
    );

    app.delete(
      '/v1/orgs/:org/invitations/:id',
      {
        preHandler: [authenticate, org('members:invite')],
        schema: {
          tags,
          params: invitationParams,
          response: { 204: noContent, ...errorResponses(...GUARDED, ...GRANTING, 'INVITATION_NOT_FOUND') },
        },
      },
      async (req, reply) => {
        await invitations.revoke(actorOf(req), req.params.id, requestContext(req));
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/v1/invitations/preview',
      {
        config: { rateLimit: publicRateLimit },
        schema: { tags, body: invitationTokenBody, response: { 200: invitationPreview, ...errorResponses('INVITATION_INVALID') } },
      },
      async (req) => invitations.preview(req.body.token),
    );

    app.post(
      '/v1/invitations/accept',
      {
        config: { rateLimit: publicRateLimit },
        preHandler: optionalAuthenticate,
        schema: {
          tags,
          body: acceptInvitationBody,
          response: {
            201: invitationAccepted,
            ...errorResponses(
              ...AUTHENTICATED_ROUTE_CODES,
              ...POLICY,
              ...REENTRY,
              'INVITATION_INVALID',
              'INVITATION_LOGIN_REQUIRED',
              'INVITATION_EMAIL_MISMATCH',
              'ALREADY_MEMBER',
            ),
          },
        },
      },
      async (req, reply) => {
        const principal = req.principal ? { userId: req.principal.userId } : null;
        return reply.status(201).send(await invitations.accept(req.body, principal, requestContext(req)));
      },
    );
  };
