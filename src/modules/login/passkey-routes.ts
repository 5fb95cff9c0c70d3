import { z } from 'zod';
import { requestContext } from '../../http/context.js';
import { cookieResponse } from '../../http/cookies.js';
import { errorResponses, uuid } from '../../http/schemas.js';
import type { Routes } from '../../http/types.js';
import { webauthnAssertion } from '../mfa/index.js';
import type { PasskeyLogin } from './passkey.js';
import { completedResponse } from './schemas.js';

// No body at all (null to the route) or {}.
const optionsBody = z.strictObject({}).nullable();
const optionsResponse = z.object({
  challenge_id: z.string(),
  options: z.record(z.string(), z.unknown()).meta({ description: 'PublicKeyCredentialRequestOptionsJSON for navigator.credentials.get' }),
});
const passkeyBody = z.strictObject({
  challenge_id: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9_-]+$/),
  response: webauthnAssertion,
  mode: z.enum(['token', 'cookie']).default('token'),
  org_id: uuid.optional(),
});

/** POST /v1/login/passkey/options and /v1/login/passkey: passwordless login with a passkey. */
export const passkeyRoutes =
  (passkeys: PasskeyLogin): Routes =>
  (app, { csrf, cookieSecure, publicRateLimit }) => {
    const tags = ['sessions'];
    const config = { rateLimit: publicRateLimit };

    app.post(
      '/v1/login/passkey/options',
      { config, schema: { tags, body: optionsBody, response: { 200: optionsResponse, ...errorResponses() } } },
      async (_req, reply) => {
        reply.header('cache-control', 'no-store');
        return passkeys.options();
      },
    );

    app.post(
      '/v1/login/passkey',
      {
        config,
        schema: {
          tags,
          body: passkeyBody,
          // USER_NOT_FOUND: the account was deleted while this login was on its way.
          // ORG_*: org_id names an org the account is not in, or whose policy does not take a passkey.
          response: {
            200: completedResponse,
            ...errorResponses('PASSKEY_INVALID', 'USER_NOT_FOUND', 'ORG_ACCESS_DENIED', 'ORG_FACTOR_NOT_ALLOWED', 'ORG_MFA_REQUIRED'),
          },
        },
      },
      async (req, reply) => {
        const { challenge_id, response, mode, org_id } = req.body;
        const { pair } = await passkeys.login({ challengeId: challenge_id, response, mode, orgId: org_id }, requestContext(req));
        reply.header('cache-control', 'no-store');
        return mode === 'cookie' ? cookieResponse(reply, pair, csrf, cookieSecure) : pair;
      },
    );
  };
