import { z } from 'zod';
import type { AuthenticationResponseJSON, AuthenticatorTransportFuture, RegistrationResponseJSON } from '@simplewebauthn/server';

/**
 * What a browser's `PublicKeyCredential.toJSON()` gives, checked for shape and size before
 * anything decodes it: binary fields are base64url strings (padding tolerated), bounded so that
 * no field can make the server decode or hash megabytes. @simplewebauthn/server does the rest.
 */
const base64url = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9_-]*={0,2}$/, 'Must be base64url');

// A credential id is at most 1023 bytes (WebAuthn §5.1), 1364 characters of base64url.
const credentialId = base64url(1400).min(1);
const attachment = z.enum(['platform', 'cross-platform']).nullish();
const extensionResults = z.record(z.string(), z.unknown()).default({});

export const TRANSPORTS = [
  'ble',
  'cable',
  'hybrid',
  'internal',
  'nfc',
  'smart-card',
  'usb',
] as const satisfies AuthenticatorTransportFuture[];

/** What every `PublicKeyCredential.toJSON()` has around its `response`. */
const credentialEnvelope = {
  id: credentialId,
  rawId: credentialId,
  type: z.literal('public-key'),
  authenticatorAttachment: attachment,
  clientExtensionResults: extensionResults,
};

export const registrationResponse = z
  .object({
    ...credentialEnvelope,
    response: z.object({
      clientDataJSON: base64url(4096),
      attestationObject: base64url(32768),
      authenticatorData: base64url(16384).optional(),
      // Unknown transports are the browser's future, not an error: kept out when stored.
      transports: z.array(z.string().max(32)).max(16).optional(),
      publicKeyAlgorithm: z.number().int().optional(),
      publicKey: base64url(4096).optional(),
    }),
  })
  .meta({ description: 'The registration credential as `PublicKeyCredential.toJSON()` gives it' });

export const authenticationResponse = z
  .object({
    ...credentialEnvelope,
    response: z.object({
      clientDataJSON: base64url(4096),
      authenticatorData: base64url(16384),
      signature: base64url(1024),
      userHandle: base64url(128).nullish(),
    }),
  })
  .meta({ description: 'The assertion as `PublicKeyCredential.toJSON()` gives it' });

/** The library's types, from the checked shapes (a null attachment or user handle is left out). */
export function asRegistration(r: z.infer<typeof registrationResponse>): RegistrationResponseJSON {
  const { authenticatorAttachment, ...rest } = r;
  return {
    ...rest,
    ...(authenticatorAttachment ? { authenticatorAttachment } : {}),
    response: { ...r.response, transports: knownTransports(r.response.transports) },
  };
}

export function asAuthentication(r: z.infer<typeof authenticationResponse>): AuthenticationResponseJSON {
  const { authenticatorAttachment, ...rest } = r;
  const { userHandle, ...response } = r.response;
  return {
    ...rest,
    ...(authenticatorAttachment ? { authenticatorAttachment } : {}),
    response: { ...response, ...(userHandle ? { userHandle } : {}) },
  };
}

export function knownTransports(values: readonly string[] | null | undefined): AuthenticatorTransportFuture[] {
  return (values ?? []).filter((v): v is AuthenticatorTransportFuture => (TRANSPORTS as readonly string[]).includes(v));
}

/** An assertion from a loosely typed proof (the login's second step takes any object); null when it is not one. */
export function parseAuthentication(value: unknown): AuthenticationResponseJSON | null {
  const parsed = authenticationResponse.safeParse(value);
  return parsed.success ? asAuthentication(parsed.data) : null;
}
