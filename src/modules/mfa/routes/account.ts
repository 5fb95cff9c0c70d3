import { z } from 'zod';
import { authOf } from '../../../http/principal.js';
import { requestContext } from '../../../http/context.js';
import { errorResponses } from '../../../http/schemas.js';
import type { Routes } from '../../../http/types.js';
import { AUTHENTICATED_ROUTE_CODES } from '../../../shared/common-errors.js';
import { mfaSummary } from '../../accounts/index.js';
import type { FactorLifecycle } from '../lifecycle.js';
import type { MfaService } from '../service.js';
import { backupCodesResponse, challengeBody, challengeResponse, reauthenticateBody, reauthenticateResponse } from '../schemas.js';

const AUTH = AUTHENTICATED_ROUTE_CODES;
/** No body, or an empty object: anything else is refused rather than silently ignored. (No body reaches the validator as null.) */
const emptyBody = z.strictObject({}).nullish();
const PROOF = ['MFA_CODE_INVALID', 'MFA_METHOD_UNAVAILABLE', 'MFA_THROTTLED', 'MFA_LOCKED'];
// What sending a text can answer (the reauthentication challenge sends one like a login's).
const SMS = ['SMS_RATE_LIMITED', 'SMS_DELIVERY_FAILED', 'SMS_NOT_CONFIGURED'];

/** The factor-independent part of /v1/me/mfa and step-up. */
export const mfaAccountRoutes =
  (mfa: MfaService, lifecycle: FactorLifecycle): Routes =>
  (app, { authenticate, requireRecentAuth }) => {
    const tags = ['mfa'];

    app.get(
      '/v1/me/mfa',
      { preHandler: authenticate, schema: { tags, response: { 200: mfaSummary, ...errorResponses(...AUTH) } } },
      async (req) => mfa.summary(authOf(req).userId),
    );

    app.post(
      '/v1/me/mfa/backup-codes',
      {
        preHandler: [authenticate, requireRecentAuth],
        schema: {
          tags,
          body: emptyBody,
          response: { 200: backupCodesResponse, ...errorResponses(...AUTH, 'REAUTHENTICATION_REQUIRED', 'MFA_METHOD_UNAVAILABLE') },
        },
      },
      async (req, reply) => {
        const codes = await lifecycle.regenerateBackupCodes(authOf(req).userId, requestContext(req));
        reply.header('cache-control', 'no-store');
        return { backup_codes: codes, remaining: codes.length };
      },
    );

    app.post(
      '/v1/me/reauthenticate',
      {
        preHandler: authenticate,
        schema: {
          tags,
          body: reauthenticateBody,
          response: {
            200: reauthenticateResponse,
            // REAUTHENTICATION_REQUIRED: a password for an account whose step-up needs a second factor.
            ...errorResponses(
              ...AUTH,
              ...PROOF,
              'INVALID_PASSWORD',
              'PASSWORD_ATTEMPTS_THROTTLED',
              'USER_NOT_FOUND',
              'REAUTHENTICATION_REQUIRED',
            ),
          },
        },
      },
      async (req) => {
        const { userId, sessionId } = authOf(req);
        const body = req.body;
        const input =
          'password' in body
            ? { password: body.password }
            : { method: body.method, proof: 'code' in body ? { code: body.code } : { response: body.response } };
        return mfa.reauthenticate(userId, sessionId, input, requestContext(req));
      },
    );

    app.post(
      '/v1/me/reauthenticate/challenge',
      {
        preHandler: authenticate,
        schema: {
          tags,
          body: challengeBody,
          response: { 200: challengeResponse, ...errorResponses(...AUTH, ...PROOF, ...SMS) },
        },
      },
      async (req) => {
        const { userId, sessionId } = authOf(req);
        return mfa.reauthChallenge(userId, sessionId, req.body.method, requestContext(req));
      },
    );
  };
