import { z } from 'zod';
import { authOf } from '../../../http/principal.js';
import { requestContext } from '../../../http/context.js';
import { errorResponses, noContent } from '../../../http/schemas.js';
import type { Routes } from '../../../http/types.js';
import { AUTHENTICATED_ROUTE_CODES } from '../../../shared/common-errors.js';
import type { SmsFactor } from '../factors/sms.js';

const AUTH = AUTHENTICATED_ROUTE_CODES;
const SENDING = ['SMS_RATE_LIMITED', 'SMS_DELIVERY_FAILED', 'SMS_NOT_CONFIGURED', 'MFA_THROTTLED'];

const enrolBody = z.strictObject({
  /** International form: + and the country code (`+1 415 555 2671`); stored as E.164, shown masked. */
  phone: z.string().trim().min(1).max(32),
});

const enrolResponse = z.object({
  status: z.literal('sent'),
  factor_id: z.string(),
  /** The number as it is shown from now on: `+1 ••• ••• 2671`. */
  sent_to: z.string(),
  expires_in: z.number().int(),
});

const confirmBody = z.strictObject({
  code: z
    .string()
    .trim()
    .regex(/^\d{3}[\s-]?\d{3}$/, 'Must be the 6-digit code from the text message'),
  /** Sign out every other session once the phone is on. */
  revoke_other_sessions: z.boolean().default(false),
});

/** Backup codes come with the first factor only, and are never shown again (null otherwise). */
const confirmResponse = z.object({
  status: z.literal('enabled'),
  factor_id: z.string(),
  backup_codes: z.array(z.string()).nullable(),
});

/** POST /v1/me/mfa/sms (add a phone, or a new code for it), /confirm (turn it on), DELETE /v1/me/mfa/sms (step-up). */
export const smsRoutes =
  (sms: SmsFactor): Routes =>
  (app, { authenticate, requireRecentAuth }) => {
    const tags = ['mfa'];

    app.post(
      '/v1/me/mfa/sms',
      {
        // Adding a factor is step-up: a stolen session must not lock the owner out with its own phone.
        preHandler: [authenticate, requireRecentAuth],
        schema: {
          tags,
          body: enrolBody,
          response: {
            200: enrolResponse,
            ...errorResponses(
              ...AUTH,
              'REAUTHENTICATION_REQUIRED',
              ...SENDING,
              'PHONE_INVALID',
              'PHONE_NOT_MOBILE',
              'FACTOR_ALREADY_ENROLLED',
              'FACTOR_NOT_PENDING',
            ),
          },
        },
      },
      async (req, reply) => {
        reply.header('cache-control', 'no-store');
        // The enrolment belongs to this session (the one that passed step-up): only it can confirm.
        const { userId, sessionId } = authOf(req);
        return sms.enrol(userId, sessionId, req.body.phone, requestContext(req));
      },
    );

    app.post(
      '/v1/me/mfa/sms/confirm',
      {
        // No step-up here: the enrolment is bound to the session that passed it when adding the
        // phone, and another session's enrolment answers FACTOR_NOT_PENDING, as none would.
        preHandler: authenticate,
        schema: {
          tags,
          body: confirmBody,
          response: {
            200: confirmResponse,
            ...errorResponses(...AUTH, 'FACTOR_ALREADY_ENROLLED', 'FACTOR_NOT_PENDING', 'MFA_CODE_INVALID'),
          },
        },
      },
      async (req, reply) => {
        const { userId, sessionId } = authOf(req);
        const { code, revoke_other_sessions } = req.body;
        const result = await sms.confirm(userId, sessionId, code, { revokeOtherSessions: revoke_other_sessions }, requestContext(req));
        reply.header('cache-control', 'no-store');
        return { status: 'enabled' as const, factor_id: result.factor_id, backup_codes: result.backupCodes };
      },
    );

    app.delete(
      '/v1/me/mfa/sms',
      {
        preHandler: [authenticate, requireRecentAuth],
        schema: {
          tags,
          response: { 204: noContent, ...errorResponses(...AUTH, 'REAUTHENTICATION_REQUIRED', 'FACTOR_NOT_FOUND', 'LAST_FACTOR_REQUIRED') },
        },
      },
      async (req, reply) => {
        await sms.remove(authOf(req).userId, requestContext(req));
        return reply.status(204).send(null);
      },
    );
  };
