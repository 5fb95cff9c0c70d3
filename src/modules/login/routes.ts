import type { FastifyReply } from 'fastify';
import type { Routes } from '../../http/types.js';
import { requestContext } from '../../http/context.js';
import { cookieResponse, type Csrf } from '../../http/cookies.js';
import { readDeviceTokens, setDeviceToken } from '../../http/device-cookie.js';
import { DEVICE_TOKEN_MAX_AGE, DEVICE_TOKENS_PER_CLIENT } from '../accounts/index.js';
import { errorResponses } from '../../http/schemas.js';
import type { TokenPair } from '../sessions/index.js';
import { MFA_TOKEN_TTL_SECONDS } from '../mfa/index.js';
import type { LoginMode, LoginService } from './service.js';
import {
  completedResponse,
  loginBody,
  loginResponse,
  mfaBody,
  mfaTokenBody,
  mfaWebauthnBody,
  smsSentResponse,
  webauthnOptionsResponse,
} from './schemas.js';

// What the second step may answer: the token, the proof, the account's budget, a deletion race.
// ORG_*: the member was removed (or the org's policy changed) while the login waited for its second step.
const SECOND_STEP = [
  'MFA_TOKEN_INVALID',
  'MFA_CODE_INVALID',
  'MFA_METHOD_UNAVAILABLE',
  'MFA_THROTTLED',
  'MFA_LOCKED',
  'USER_NOT_FOUND',
  'ORG_ACCESS_DENIED',
  'ORG_MFA_REQUIRED',
  'ORG_FACTOR_NOT_ALLOWED',
];

export const loginRoutes =
  (login: LoginService): Routes =>
  (app, { csrf, cookieSecure }) => {
    const tags = ['sessions'];
    /** Tokens in the body, or cookies, as the login's first step asked. */
    const answer = (reply: FastifyReply, pair: TokenPair, mode: LoginMode, csrfTokens: Csrf) => {
      reply.header('cache-control', 'no-store');
      return mode === 'cookie' ? cookieResponse(reply, pair, csrfTokens, cookieSecure) : pair;
    };

    app.post(
      '/v1/login',
      {
        schema: {
          tags,
          body: loginBody,
          response: {
            200: loginResponse,
            // USER_NOT_FOUND: the account was deleted while this login was on its way.
            // ORG_MFA_REQUIRED: cannot happen for a password login (the policy sends it to a second step or to enrolment) but is the grant's.
            // ORG_FACTOR_NOT_ALLOWED: the account's factors are none the org allows (it adds one outside the org first).
            ...errorResponses(
              'INVALID_CREDENTIALS',
              'ORG_ACCESS_DENIED',
              'ORG_MFA_REQUIRED',
              'ORG_FACTOR_NOT_ALLOWED',
              'LOGIN_THROTTLED',
              'USER_NOT_FOUND',
            ),
          },
        },
      },
      async (req, reply) => {
        const { email, password, org_id, mode, device_token } = req.body;
        const deviceTokens = readDeviceTokens(req, cookieSecure, device_token);
        const result = await login.login({ email, password, orgId: org_id, deviceTokens, mode }, requestContext(req));
        reply.header('cache-control', 'no-store');
        setDeviceToken(reply, req, result.deviceToken, {
          secure: cookieSecure,
          maxAge: DEVICE_TOKEN_MAX_AGE,
          keep: DEVICE_TOKENS_PER_CLIENT,
        });
        if (result.status !== 'authenticated') {
          const parked = {
            mfa_token: result.mfaToken,
            expires_in: MFA_TOKEN_TTL_SECONDS,
            ...(mode === 'cookie' ? {} : { device_token: result.deviceToken }),
          };
          return result.status === 'mfa_required'
            ? { status: result.status, methods: result.methods, ...parked }
            : { status: result.status, methods: result.methods, ...parked };
        }
        return mode === 'cookie'
          ? cookieResponse(reply, result.pair, csrf, cookieSecure)
          : { ...result.pair, device_token: result.deviceToken };
      },
    );

    app.post(
      '/v1/login/mfa',
      { schema: { tags, body: mfaBody, response: { 200: completedResponse, ...errorResponses(...SECOND_STEP) } } },
      async (req, reply) => {
        const { mfa_token, method, code } = req.body;
        const { pair, mode } = await login.completeMfa({ mfaToken: mfa_token, method, proof: { code } }, requestContext(req));
        return answer(reply, pair, mode, csrf);
      },
    );

    app.post(
      '/v1/login/mfa/sms',
      {
        schema: {
          tags,
          body: mfaTokenBody,
          response: {
            200: smsSentResponse,
            ...errorResponses(
              'MFA_TOKEN_INVALID',
              'MFA_METHOD_UNAVAILABLE',
              'MFA_THROTTLED',
              'MFA_LOCKED',
              'SMS_RATE_LIMITED',
              'SMS_DELIVERY_FAILED',
              'SMS_NOT_CONFIGURED',
            ),
          },
        },
      },
      async (req, reply) => {
        reply.header('cache-control', 'no-store');
        return login.mfaChallenge(req.body.mfa_token, 'sms', requestContext(req)) as Promise<never>;
      },
    );

    app.post(
      '/v1/login/mfa/webauthn/options',
      {
        schema: {
          tags,
          body: mfaTokenBody,
          response: {
            200: webauthnOptionsResponse,
            ...errorResponses('MFA_TOKEN_INVALID', 'MFA_METHOD_UNAVAILABLE', 'MFA_THROTTLED', 'MFA_LOCKED'),
          },
        },
      },
      async (req, reply) => {
        reply.header('cache-control', 'no-store');
        return login.mfaChallenge(req.body.mfa_token, 'webauthn', requestContext(req)) as Promise<never>;
      },
    );

    app.post(
      '/v1/login/mfa/webauthn',
      { schema: { tags, body: mfaWebauthnBody, response: { 200: completedResponse, ...errorResponses(...SECOND_STEP) } } },
      async (req, reply) => {
        const { mfa_token, response } = req.body;
        const { pair, mode } = await login.completeMfa(
          { mfaToken: mfa_token, method: 'webauthn', proof: { response } },
          requestContext(req),
        );
        return answer(reply, pair, mode, csrf);
      },
    );
  };
