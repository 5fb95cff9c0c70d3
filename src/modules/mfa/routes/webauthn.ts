import { z } from 'zod';
import { authOf } from '../../../http/principal.js';
import { requestContext } from '../../../http/context.js';
import { displayName, errorResponses, noContent, uuid } from '../../../http/schemas.js';
import type { Routes } from '../../../http/types.js';
import { AUTHENTICATED_ROUTE_CODES } from '../../../shared/common-errors.js';
import type { WebauthnFactor } from '../factors/webauthn.js';
import { asRegistration, registrationResponse, TRANSPORTS } from '../factors/webauthn/responses.js';
import { enabledResponse } from '../schemas.js';
// The catalogue must be registered before errorResponses() names its codes.
import '../factors/webauthn/errors.js';

const AUTH = AUTHENTICATED_ROUTE_CODES;

/** What a user calls a key ("YubiKey 5C", "Work laptop"): trimmed, 1 to 64 characters, no control characters. */
const credentialName = displayName.max(64);

// No body at all (null to the route) asks for a security key.
const optionsBody = z
  .strictObject({
    /** A passkey: discoverable and user-verifying, so it can sign in without a password. */
    passkey: z.boolean().optional(),
  })
  .nullable();

const optionsResponse = z.object({
  options: z
    .record(z.string(), z.unknown())
    .meta({ description: 'PublicKeyCredentialCreationOptionsJSON for navigator.credentials.create' }),
});

const registrationBody = z.strictObject({
  response: registrationResponse,
  /** Defaults to "Passkey" or "Security key". */
  name: credentialName.optional(),
  /** Sign out every other session once the key is on. */
  revoke_other_sessions: z.boolean().default(false),
});

const credential = z.object({
  id: z.string(),
  name: z.string(),
  passkey: z.boolean(),
  /** multiDevice: the authenticator may sync it to other devices (a synced passkey). */
  device_type: z.enum(['singleDevice', 'multiDevice']),
  backed_up: z.boolean(),
  transports: z.array(z.enum(TRANSPORTS)),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
});

const registrationResponseBody = enabledResponse.extend({ credential });
const credentialParams = z.strictObject({ id: uuid });
const renameBody = z.strictObject({ name: credentialName });

/** /v1/me/webauthn/*: register a security key or passkey, list, rename and remove them. */
export const webauthnRoutes =
  (webauthn: WebauthnFactor): Routes =>
  (app, { authenticate, requireRecentAuth }) => {
    const tags = ['mfa'];

    app.post(
      '/v1/me/webauthn/registration/options',
      {
        // Adding a factor is step-up: a stolen session must not lock the owner out with its own key.
        preHandler: [authenticate, requireRecentAuth],
        schema: {
          tags,
          body: optionsBody,
          response: {
            200: optionsResponse,
            ...errorResponses(...AUTH, 'REAUTHENTICATION_REQUIRED', 'WEBAUTHN_CREDENTIAL_LIMIT', 'USER_NOT_FOUND'),
          },
        },
      },
      async (req, reply) => {
        reply.header('cache-control', 'no-store');
        // The ceremony belongs to this session (the one that passed step-up): only it can answer.
        const { userId, sessionId } = authOf(req);
        return webauthn.registrationOptions(userId, sessionId, { passkey: req.body?.passkey ?? false });
      },
    );

    app.post(
      '/v1/me/webauthn/registration',
      {
        // No step-up here: the ceremony is bound to the session that passed it when asking for the
        // options, and another session finds none (FACTOR_NOT_PENDING).
        preHandler: authenticate,
        schema: {
          tags,
          body: registrationBody,
          response: {
            200: registrationResponseBody,
            ...errorResponses(
              ...AUTH,
              'FACTOR_NOT_PENDING',
              'FACTOR_ALREADY_ENROLLED',
              'WEBAUTHN_REGISTRATION_INVALID',
              'WEBAUTHN_CREDENTIAL_LIMIT',
            ),
          },
        },
      },
      async (req, reply) => {
        const { userId, sessionId } = authOf(req);
        const { response, name, revoke_other_sessions } = req.body;
        const result = await webauthn.register(
          userId,
          sessionId,
          { response: asRegistration(response), name },
          { revokeOtherSessions: revoke_other_sessions },
          requestContext(req),
        );
        reply.header('cache-control', 'no-store');
        return {
          status: 'enabled' as const,
          factor_id: result.credential.id,
          credential: result.credential,
          backup_codes: result.backupCodes,
        };
      },
    );

    app.get(
      '/v1/me/webauthn/credentials',
      {
        preHandler: authenticate,
        schema: { tags, response: { 200: z.object({ credentials: z.array(credential) }), ...errorResponses(...AUTH) } },
      },
      async (req) => ({ credentials: await webauthn.list(authOf(req).userId) }),
    );

    app.patch(
      '/v1/me/webauthn/credentials/:id',
      {
        preHandler: authenticate,
        schema: {
          tags,
          params: credentialParams,
          body: renameBody,
          response: { 200: credential, ...errorResponses(...AUTH, 'FACTOR_NOT_FOUND') },
        },
      },
      async (req) => webauthn.rename(authOf(req).userId, req.params.id, req.body.name, requestContext(req)),
    );

    app.delete(
      '/v1/me/webauthn/credentials/:id',
      {
        preHandler: [authenticate, requireRecentAuth],
        schema: {
          tags,
          params: credentialParams,
          response: { 204: noContent, ...errorResponses(...AUTH, 'REAUTHENTICATION_REQUIRED', 'FACTOR_NOT_FOUND', 'LAST_FACTOR_REQUIRED') },
        },
      },
      async (req, reply) => {
        await webauthn.remove(authOf(req).userId, req.params.id, requestContext(req));
        return reply.status(204).send(null);
      },
    );
  };
