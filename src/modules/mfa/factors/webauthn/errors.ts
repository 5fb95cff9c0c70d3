import { defineErrors } from '../../../../shared/errors.js';

/** WebAuthn's own codes, beside mfa/errors.ts (FACTOR_NOT_FOUND, FACTOR_NOT_PENDING, ... are there). */
export const webauthnError = defineErrors({
  // The registration response did not verify: wrong origin or RP ID, another challenge, no user
  // verification for a passkey, a bad attestation, an authenticator that cannot keep a passkey.
  WEBAUTHN_REGISTRATION_INVALID: [400, 'Security key not accepted'],
  // An account keeps a bounded number of keys and passkeys.
  WEBAUTHN_CREDENTIAL_LIMIT: [409, 'Too many security keys'],
} as const);
