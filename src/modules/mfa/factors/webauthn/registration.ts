import { randomUUID } from 'node:crypto';
import { generateRegistrationOptions, verifyRegistrationResponse, type RegistrationResponseJSON } from '@simplewebauthn/server';
import type { AuditContext } from '../../../audit/index.js';
import { mfaError } from '../../errors.js';
import type { EnableOptions } from '../../lifecycle.js';
import type { FactorDeps } from '../deps.js';
import { CEREMONY_SECONDS, type Ceremonies } from './challenges.js';
import { credentialView, descriptor, optionsJson, MAX_CREDENTIALS, userHandle, webauthnRows, type RelyingParty } from './credentials.js';
import { webauthnError } from './errors.js';
import { knownTransports } from './responses.js';

// ES256 first (every authenticator), then Ed25519 and RS256 (Windows Hello).
const ALGORITHMS = [-7, -8, -257];

// A registration belongs to the session that asked for the options (the one that passed step-up):
// another session of the user finds no ceremony to answer.
const scopeOf = (userId: string, sessionId: string) => `register:${userId}:${sessionId}`;

/**
 * Registering a security key or a passkey. The options carry a fresh challenge (32 random bytes,
 * kept server-side for five minutes under the user and the session that asked, which alone can
 * answer it), the account's opaque handle, and its current credentials as excludeCredentials so
 * the same authenticator is not registered twice.
 * A passkey must be discoverable and verify the user (PIN or biometric): it will be the only
 * factor of a passwordless login. A security key is asked for neither: it is a second factor
 * after a password, and a discoverable credential would take one of its few resident slots.
 */
export function createRegistration(deps: FactorDeps & { rp: RelyingParty; ceremonies: Ceremonies }) {
  const { store, lifecycle, rp, ceremonies } = deps;

  async function credentialsOf(userId: string) {
    return webauthnRows(await store.listConfirmed(userId));
  }

  function refused(detail: string) {
    return webauthnError('WEBAUTHN_REGISTRATION_INVALID', detail);
  }

  /** The library's checks, as the user-facing refusal (its message names the check, never a secret). */
  async function verified(response: RegistrationResponseJSON, challenge: string, passkey: boolean) {
    let result;
    try {
      result = await verifyRegistrationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: rp.origins,
        expectedRPID: rp.rpId,
        expectedType: 'webauthn.create',
        requireUserPresence: true,
        requireUserVerification: passkey,
        supportedAlgorithmIDs: ALGORITHMS,
      });
    } catch (err) {
      throw refused(`The authenticator's response was refused: ${err instanceof Error ? err.message : String(err)}.`);
    }
    if (!result.verified) throw refused('The attestation does not verify.');
    return result.registrationInfo;
  }

  return {
    async options(userId: string, sessionId: string, input: { passkey: boolean }) {
      const existing = await credentialsOf(userId);
      if (existing.length >= MAX_CREDENTIALS) {
        throw webauthnError(
          'WEBAUTHN_CREDENTIAL_LIMIT',
          `An account can hold ${MAX_CREDENTIALS} security keys and passkeys; remove one first.`,
        );
      }
      const email = await deps.userEmail(userId);
      const options = await generateRegistrationOptions({
        rpName: rp.rpName,
        rpID: rp.rpId,
        userID: new Uint8Array(userHandle(userId)),
        userName: email,
        userDisplayName: email,
        timeout: CEREMONY_SECONDS * 1000,
        attestationType: 'none',
        excludeCredentials: existing.map(descriptor),
        authenticatorSelection: input.passkey
          ? { residentKey: 'required', requireResidentKey: true, userVerification: 'required' }
          : { residentKey: 'discouraged', requireResidentKey: false, userVerification: 'preferred' },
        // credProps tells whether the authenticator really kept a discoverable credential.
        extensions: { credProps: true },
        supportedAlgorithmIDs: ALGORITHMS,
      });
      await ceremonies.begin(scopeOf(userId, sessionId), { challenge: options.challenge, passkey: input.passkey });
      return { options: optionsJson(options) };
    },

    /**
     * Verifies the authenticator's response to the options this session asked for (taking the
     * challenge: it answers once) and turns the credential on (making the session fresh at aal 2).
     * The first factor of an account comes with its backup codes.
     */
    async register(
      userId: string,
      sessionId: string,
      input: { response: RegistrationResponseJSON; name?: string },
      options: Omit<EnableOptions, 'sessionId'>,
      context: AuditContext,
    ) {
      const ceremony = await ceremonies.take(scopeOf(userId, sessionId));
      if (!ceremony) {
        throw mfaError(
          'FACTOR_NOT_PENDING',
          'No registration is in progress: ask for options first (POST /v1/me/webauthn/registration/options); they answer once, within 5 minutes.',
        );
      }
      const passkey = ceremony.passkey === true;
      const info = await verified(input.response, ceremony.challenge, passkey);
      if (info.credential.id !== input.response.id) throw refused('The credential id does not match the authenticator data.');
      // Asked for with residentKey "required"; an authenticator that says it made a
      // non-discoverable credential could never sign in without a password.
      const credProps = input.response.clientExtensionResults.credProps;
      if (passkey && credProps?.rk === false) throw refused('This authenticator cannot keep a passkey; register it as a security key.');

      const credentialId = Buffer.from(info.credential.id, 'base64url');
      if (await store.findByCredentialId(credentialId)) {
        throw mfaError('FACTOR_ALREADY_ENROLLED', 'This security key or passkey is already registered.');
      }
      if ((await credentialsOf(userId)).length >= MAX_CREDENTIALS) {
        throw webauthnError(
          'WEBAUTHN_CREDENTIAL_LIMIT',
          `An account can hold ${MAX_CREDENTIALS} security keys and passkeys; remove one first.`,
        );
      }

      // A row is inserted pending, then confirmed by the lifecycle (which audits, mails and
      // issues backup codes in its own transaction). A pending WebAuthn row exists only between
      // the two; one left by a crash would hold its credential id, so it is cleared first.
      await store.deletePending(userId, 'webauthn');
      const id = randomUUID();
      let row;
      try {
        row = await store.insert({
          id,
          user_id: userId,
          kind: 'webauthn',
          name: input.name ?? (passkey ? 'Passkey' : 'Security key'),
          credential_id: credentialId,
          public_key: Buffer.from(info.credential.publicKey),
          sign_count: info.credential.counter,
          transports: knownTransports(input.response.response.transports),
          passkey,
          device_type: info.credentialDeviceType,
          backed_up: info.credentialBackedUp,
          aaguid: info.aaguid,
        });
      } catch (err) {
        // Another registration of the same credential won the unique index.
        if ((err as { code?: string }).code === '23505') {
          throw mfaError('FACTOR_ALREADY_ENROLLED', 'This security key or passkey is already registered.');
        }
        throw err;
      }
      let backupCodes: string[] | null;
      try {
        ({ backupCodes } = await lifecycle.enable(userId, row, { ...options, sessionId }, context));
      } catch (err) {
        await store.remove(userId, id).catch(() => undefined);
        throw err;
      }
      const confirmed = (await store.findById(userId, id)) ?? row;
      return { credential: credentialView(confirmed), backupCodes };
    },
  };
}

export type Registration = ReturnType<typeof createRegistration>;
