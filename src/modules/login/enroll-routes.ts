import type { FastifyReply } from 'fastify';
import { requestContext } from '../../http/context.js';
import { cookieResponse } from '../../http/cookies.js';
import { errorResponses } from '../../http/schemas.js';
import type { Routes } from '../../http/types.js';
import type { TokenPair } from '../sessions/index.js';
import type { LoginEnrolment } from './enrollment.js';
import type { LoginMode } from './service.js';
import {
  enrolCodeBody,
  enrolledResponse,
  enrolSmsBody,
  enrolSmsSentResponse,
  enrolTotpResponse,
  enrolWebauthnBody,
  enrolWebauthnOptionsBody,
  enrolWebauthnOptionsResponse,
  mfaTokenBody,
} from './schemas.js';

// Every enrolment route: the token (unknown, expired, used up, not an enroll token, the password
// changed since) and the methods it allows.
const TOKEN = ['MFA_TOKEN_INVALID', 'MFA_METHOD_UNAVAILABLE'];
// A confirmation: the code or the registration, the set-up's state, and a deletion race (USER_NOT_FOUND).
// ORG_*: the member was removed, or the org's policy changed, while the login waited.
const CONFIRM = [
  ...TOKEN,
  'FACTOR_NOT_PENDING',
  'FACTOR_ALREADY_ENROLLED',
  'USER_NOT_FOUND',
  'ORG_ACCESS_DENIED',
  'ORG_MFA_REQUIRED',
  'ORG_FACTOR_NOT_ALLOWED',
];

/**
 * /v1/login/mfa/enroll/*: with the mfa_token of a login that must set up a second factor (org
 * policy), set one up; confirming it completes the login (aal 2), with the backup codes of the
 * account's first factor. Public like the rest of /v1/login/mfa*: the mfa_token is the credential,
 * with its five tries.
 */
export const enrolmentRoutes =
  (enrolment: LoginEnrolment): Routes =>
  (app, { csrf, cookieSecure }) => {
    const tags = ['sessions'];
    /** The completed login's answer (tokens in the body, or cookies, as the first step asked) and the backup codes. */
    const answer = (reply: FastifyReply, done: { pair: TokenPair; mode: LoginMode; backupCodes: string[] | null }) => {
      reply.header('cache-control', 'no-store');
      const session = done.mode === 'cookie' ? cookieResponse(reply, done.pair, csrf, cookieSecure) : done.pair;
      return { ...session, backup_codes: done.backupCodes };
    };

    app.post(
      '/v1/login/mfa/enroll/totp',
      {
        schema: {
          tags,
          body: mfaTokenBody,
          response: {
            200: enrolTotpResponse,
            ...errorResponses(...TOKEN, 'FACTOR_ALREADY_ENROLLED', 'FACTOR_NOT_PENDING', 'USER_NOT_FOUND'),
          },
        },
      },
      async (req, reply) => {
        reply.header('cache-control', 'no-store');
        return enrolment.totp(req.body.mfa_token);
      },
    );

    app.post(
      '/v1/login/mfa/enroll/totp/confirm',
      { schema: { tags, body: enrolCodeBody, response: { 200: enrolledResponse, ...errorResponses(...CONFIRM, 'MFA_CODE_INVALID') } } },
      async (req, reply) => {
        const { mfa_token, code } = req.body;
        return answer(reply, await enrolment.confirmTotp({ mfaToken: mfa_token, code }, requestContext(req)));
      },
    );

    app.post(
      '/v1/login/mfa/enroll/webauthn/options',
      {
        schema: {
          tags,
          body: enrolWebauthnOptionsBody,
          response: { 200: enrolWebauthnOptionsResponse, ...errorResponses(...TOKEN, 'WEBAUTHN_CREDENTIAL_LIMIT', 'USER_NOT_FOUND') },
        },
      },
      async (req, reply) => {
        reply.header('cache-control', 'no-store');
        return enrolment.webauthnOptions({ mfaToken: req.body.mfa_token, passkey: req.body.passkey ?? false });
      },
    );

    app.post(
      '/v1/login/mfa/enroll/webauthn',
      {
        schema: {
          tags,
          body: enrolWebauthnBody,
          response: {
            200: enrolledResponse,
            ...errorResponses(...CONFIRM, 'WEBAUTHN_REGISTRATION_INVALID', 'WEBAUTHN_CREDENTIAL_LIMIT'),
          },
        },
      },
      async (req, reply) => {
        const { mfa_token, response, name } = req.body;
        return answer(reply, await enrolment.registerWebauthn({ mfaToken: mfa_token, response, name }, requestContext(req)));
      },
    );

    app.post(
      '/v1/login/mfa/enroll/sms',
      {
        schema: {
          tags,
          body: enrolSmsBody,
          response: {
            200: enrolSmsSentResponse,
            ...errorResponses(
              ...TOKEN,
              'PHONE_INVALID',
              'PHONE_NOT_MOBILE',
              'FACTOR_ALREADY_ENROLLED',
              'FACTOR_NOT_PENDING',
              // Sending: the account's and the number's limits, this set-up's wrong codes, the provider.
              'SMS_RATE_LIMITED',
              'SMS_DELIVERY_FAILED',
              'SMS_NOT_CONFIGURED',
              'MFA_THROTTLED',
            ),
          },
        },
      },
      async (req, reply) => {
        reply.header('cache-control', 'no-store');
        return enrolment.sms({ mfaToken: req.body.mfa_token, phone: req.body.phone }, requestContext(req));
      },
    );

    app.post(
      '/v1/login/mfa/enroll/sms/confirm',
      { schema: { tags, body: enrolCodeBody, response: { 200: enrolledResponse, ...errorResponses(...CONFIRM, 'MFA_CODE_INVALID') } } },
      async (req, reply) => {
        const { mfa_token, code } = req.body;
        return answer(reply, await enrolment.confirmSms({ mfaToken: mfa_token, code }, requestContext(req)));
      },
    );
  };
