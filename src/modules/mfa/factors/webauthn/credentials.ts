import type { AuthenticatorTransportFuture } from '@simplewebauthn/server';
import type { FactorRow } from '../../store.js';
import { knownTransports } from './responses.js';

/** The relying party: who the credentials are scoped to (RP ID) and the pages allowed to use them. */
export type RelyingParty = { rpId: string; rpName: string; origins: string[] };

/** Keys and passkeys an account may hold: enough for every device a person owns, not a table to fill. */
export const MAX_CREDENTIALS = 25;

/**
 * The WebAuthn user handle (user.id) of an account: the 16 bytes of its user id. It is random
 * (a v4 UUID), carries nothing personal (WebAuthn forbids the email or name there), never
 * changes (so a passkey outlives an email change and a key rotation, and registering the same
 * authenticator again replaces its passkey instead of adding a second one), and is already the
 * `sub` of the account's own tokens, so handing it to the authenticator reveals nothing new. A
 * handle derived from a keyring secret would break every passkey when that key is retired.
 */
export function userHandle(userId: string): Buffer {
  return Buffer.from(userId.replace(/-/g, ''), 'hex');
}

/** The credentials of an account that count: confirmed WebAuthn rows, oldest first. */
export const webauthnRows = (rows: readonly FactorRow[]) => rows.filter((r) => r.kind === 'webauthn' && r.confirmed_at !== null);

/** A stored credential as options name it (excludeCredentials, allowCredentials). */
export function descriptor(row: FactorRow): { id: string; transports?: AuthenticatorTransportFuture[] } {
  const transports = knownTransports(row.transports);
  return { id: row.credential_id!.toString('base64url'), ...(transports.length ? { transports } : {}) };
}

/** What the account owner sees of a credential (never the public key or the credential id). */
export function credentialView(row: FactorRow) {
  return {
    id: row.id,
    name: row.name,
    passkey: row.passkey,
    device_type: row.device_type === 'multiDevice' ? ('multiDevice' as const) : ('singleDevice' as const),
    backed_up: row.backed_up ?? false,
    transports: knownTransports(row.transports),
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at?.toISOString() ?? null,
  };
}

export type CredentialView = ReturnType<typeof credentialView>;

/** Options as the API answers them: plain JSON for the browser's parse...OptionsFromJSON. */
export const optionsJson = (options: object) => options as Record<string, unknown>;
