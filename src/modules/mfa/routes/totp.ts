import { z } from 'zod';
import { authOf } from '../../../http/principal.js';
import { requestContext } from '../../../http/context.js';
import { errorResponses, noContent } from '../../../http/schemas.js';
import type { Routes } from '../../../http/types.js';
import { AUTHENTICATED_ROUTE_CODES } from '../../../shared/common-errors.js';
import type { TotpFactor } from '../factors/totp.js';
import { totpConfirmBody, totpConfirmResponse, totpEnrolResponse } from '../schemas.js';

const AUTH = AUTHENTICATED_ROUTE_CODES;
/** Enrolment takes no input: no body, or an empty object (no body reaches the validator as null). */
const noInput = z.strictObject({}).nullish();

/** POST /v1/me/mfa/totp (set-up), /confirm (turn on), DELETE /v1/me/mfa/totp (step-up). */
export const totpRoutes =
  (totp: TotpFactor): Routes =>
  (app, { authenticate, requireRecentAuth }) => {
    const tags = ['mfa'];

    app.post(
      '/v1/me/mfa/totp',
      {
        // Adding a factor is step-up: a stolen session must not lock the owner out with its own app.
        preHandler: [authenticate, requireRecentAuth],
        schema: {
          tags,
          body: noInput,
          response: {
            200: totpEnrolResponse,
            ...errorResponses(...AUTH, 'REAUTHENTICATION_REQUIRED', 'FACTOR_ALREADY_ENROLLED', 'FACTOR_NOT_PENDING', 'USER_NOT_FOUND'),
          },
        },
      },
      async (req, reply) => {
        reply.header('cache-control', 'no-store');
        // The set-up belongs to this session (the one that passed step-up): only it can confirm.
        const { userId, sessionId } = authOf(req);
        return totp.enrol(userId, sessionId);
      },
    );

    app.post(
      '/v1/me/mfa/totp/confirm',
      {
        // No step-up here: the set-up is bound to the session that passed it when starting, and a
        // set-up another session started answers FACTOR_NOT_PENDING, as none would.
        preHandler: authenticate,
        schema: {
          tags,
          body: totpConfirmBody,
          response: {
            200: totpConfirmResponse,
            ...errorResponses(...AUTH, 'FACTOR_ALREADY_ENROLLED', 'FACTOR_NOT_PENDING', 'MFA_CODE_INVALID'),
          },
        },
      },
      async (req, reply) => {
        const { userId, sessionId } = authOf(req);
        const { code, revoke_other_sessions } = req.body;
        const result = await totp.confirm(userId, sessionId, code, { revokeOtherSessions: revoke_other_sessions }, requestContext(req));
        reply.header('cache-control', 'no-store');
        return { status: 'enabled' as const, factor_id: result.factor_id, backup_codes: result.backupCodes };
      },
    );

    app.delete(
      '/v1/me/mfa/totp',
      {
        preHandler: [authenticate, requireRecentAuth],
        schema: {
          tags,
          response: { 204: noContent, ...errorResponses(...AUTH, 'REAUTHENTICATION_REQUIRED', 'FACTOR_NOT_FOUND', 'LAST_FACTOR_REQUIRED') },
        },
      },
      async (req, reply) => {
        await totp.remove(authOf(req).userId, requestContext(req));
        return reply.status(204).send(null);
      },
    );
  };
