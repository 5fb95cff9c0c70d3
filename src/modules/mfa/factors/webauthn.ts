import { generateAuthenticationOptions } from '@simplewebauthn/server';
import type { AuditContext } from '../../audit/index.js';
import { mfaError } from '../errors.js';
import type { SecondFactor } from '../factor.js';
import type { FactorDeps } from './deps.js';
import { createAssertionCheck } from './webauthn/assertion.js';
import { CEREMONY_SECONDS, createCeremonies } from './webauthn/challenges.js';
import { credentialView, descriptor, optionsJson, webauthnRows, type RelyingParty } from './webauthn/credentials.js';
import { createPasskeys } from './webauthn/passkeys.js';
import { createRegistration } from './webauthn/registration.js';
import { parseAuthentication } from './webauthn/responses.js';

const assertionScope = (attemptId: string) => `assert:${attemptId}`;

/**
 * WebAuthn security keys and passkeys (@simplewebauthn/server): one `mfa_factors` row per
 * credential (kind 'webauthn'), with its public key, signature counter, transports and flags.
 * As a second factor, at login or for a step-up, any of the account's credentials answers a
 * challenge bound to the attempt. A passkey (discoverable, user-verifying) also signs in alone
 * (`passkeys`, used by the login module). Challenges live in the KV store (webauthn/challenges.ts).
 */
export function createWebauthnFactor(deps: FactorDeps & { rp: RelyingParty }) {
  const { store, lifecycle, rp } = deps;
  const ceremonies = createCeremonies(deps.kv);
  const checkAssertion = createAssertionCheck({ store, audit: deps.audit, clock: deps.clock, logger: deps.logger, rp });

  async function ownCredential(userId: string, id: string) {
    const row = await store.findById(userId, id);
    if (!row || row.kind !== 'webauthn' || !row.confirmed_at) {
      throw mfaError('FACTOR_NOT_FOUND', 'You have no security key or passkey with that id.');
    }
    return row;
  }

  const factor: SecondFactor = {
    method: 'webauthn',

    availableWith: (confirmed) => webauthnRows(confirmed).length > 0,

    /**
     * Request options for the account's credentials, the challenge bound to the attempt (a new
     * request replaces it). User verification is discouraged: this follows a password, and a
     * PIN prompt on a security key would add a step without changing what is proved.
     */
    async challenge(attempt) {
      const rows = webauthnRows(await store.listConfirmed(attempt.userId));
      const options = await generateAuthenticationOptions({
        rpID: rp.rpId,
        allowCredentials: rows.map(descriptor),
        userVerification: 'discouraged',
        timeout: CEREMONY_SECONDS * 1000,
      });
      await ceremonies.begin(assertionScope(attempt.id), { challenge: options.challenge });
      return { options: optionsJson(options) };
    },

    /**
     * The assertion against the attempt's challenge (taken first: it answers once, right or
     * wrong), from a credential of this account (a credential of another account is as wrong as
     * none), verified with its counter (assertion.ts).
     */
    async verify(attempt, proof, context) {
      const ceremony = await ceremonies.take(assertionScope(attempt.id));
      const response = parseAuthentication(proof.response);
      if (!ceremony || !response) return null;
      const row = await store.findByCredentialId(Buffer.from(response.id, 'base64url'));
      if (!row || row.kind !== 'webauthn' || !row.confirmed_at || row.user_id !== attempt.userId || !row.public_key) return null;
      const checked = await checkAssertion(row, response, ceremony.challenge, { requireUserVerification: false, context });
      if (!checked.ok) return null;
      return { amr: [checked.key], factorId: row.id, data: { passkey: row.passkey, user_verified: checked.userVerified } };
    },
  };

  const registration = createRegistration({ ...deps, ceremonies });

  return {
    ...factor,
    registrationOptions: registration.options,
    register: registration.register,

    /** Passwordless login (the login module's /v1/login/passkey). */
    passkeys: createPasskeys({ store, rp, ceremonies, checkAssertion }),

    async list(userId: string) {
      return webauthnRows(await store.listConfirmed(userId)).map(credentialView);
    },

    async rename(userId: string, id: string, name: string, context: AuditContext) {
      const row = await ownCredential(userId, id);
      const updated = await store.update(userId, row.id, { name });
      if (!updated) throw mfaError('FACTOR_NOT_FOUND', 'You have no security key or passkey with that id.');
      deps.audit.recordDetached({
        action: 'mfa.factor_renamed',
        actorId: userId,
        targetType: 'mfa_factor',
        targetId: row.id,
        data: { kind: 'webauthn' },
        context,
      });
      return credentialView(updated);
    },

    /** Step-up is the route's (requireRecentAuth); the lifecycle audits, mails and drops the backup codes with the last factor. */
    async remove(userId: string, id: string, context: AuditContext) {
      const row = await ownCredential(userId, id);
      await lifecycle.remove(userId, row.id, context);
    },
  };
}

export type WebauthnFactor = ReturnType<typeof createWebauthnFactor>;
