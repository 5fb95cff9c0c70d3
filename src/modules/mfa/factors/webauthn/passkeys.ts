import { generateAuthenticationOptions } from '@simplewebauthn/server';
import { constantTimeEqual, randomToken } from '../../../../infra/random.js';
import type { AuditContext } from '../../../audit/index.js';
import type { MfaStore } from '../../store.js';
import type { AssertionCheck, AssertionFailure } from './assertion.js';
import { CEREMONY_SECONDS, type Ceremonies } from './challenges.js';
import { optionsJson, userHandle, type RelyingParty } from './credentials.js';
import { parseAuthentication } from './responses.js';

export type PasskeyFailure = AssertionFailure | 'unknown_challenge' | 'unknown_credential' | 'user_handle_mismatch';

/**
 * What a passkey login proved. `userId` on a failure is the account the credential belongs to,
 * once the credential and its user handle agree (so the failure is audited against that
 * account; it is not counted against its second-factor budget); null while nothing ties the
 * attempt to an account.
 */
export type PasskeyOutcome =
  { ok: true; userId: string; factorId: string; amr: string[] } | { ok: false; reason: PasskeyFailure; userId: string | null };

const scopeOf = (challengeId: string) => `passkey:${challengeId}`;

/**
 * Passwordless login with a passkey: options with no allowCredentials (the authenticator offers
 * its discoverable credentials for this RP) and user verification required, bound to a random
 * challenge_id; then the assertion, which must come from a confirmed passkey, name that
 * passkey's account as its user handle, carry the UV flag, verify, and move the counter.
 *
 * amr (RFC 8176): the key (`hwk` or `swk`, see assertion.ts), `user` (the authenticator tested
 * the user's presence) and `mfa`: user verification means the authenticator checked a PIN or a
 * biometric before signing, so possession and knowledge-or-inherence were both proved. Which
 * one it was the authenticator does not say, so neither `pin` nor `fpt` is claimed.
 */
export function createPasskeys(deps: { store: MfaStore; rp: RelyingParty; ceremonies: Ceremonies; checkAssertion: AssertionCheck }) {
  const { store, rp, ceremonies } = deps;

  return {
    async options() {
      const challengeId = randomToken();
      const options = await generateAuthenticationOptions({
        rpID: rp.rpId,
        allowCredentials: [],
        userVerification: 'required',
        timeout: CEREMONY_SECONDS * 1000,
      });
      await ceremonies.begin(scopeOf(challengeId), { challenge: options.challenge });
      return { challenge_id: challengeId, options: optionsJson(options) };
    },

    /** `response` is what the browser sent (`PublicKeyCredential.toJSON()`), checked here for shape. */
    async verify(challengeId: string, body: unknown, context: AuditContext): Promise<PasskeyOutcome> {
      const ceremony = await ceremonies.take(scopeOf(challengeId));
      if (!ceremony) return { ok: false, reason: 'unknown_challenge', userId: null };
      const response = parseAuthentication(body);
      if (!response) return { ok: false, reason: 'invalid_response', userId: null };
      const row = await store.findByCredentialId(Buffer.from(response.id, 'base64url'));
      if (!row || row.kind !== 'webauthn' || !row.passkey || !row.confirmed_at || !row.public_key) {
        return { ok: false, reason: 'unknown_credential', userId: null };
      }
      // The authenticator returns the user handle it was registered with; it must be this
      // credential's account (WebAuthn §7.2 step 6).
      const handle = response.response.userHandle;
      if (!handle || !constantTimeEqual(Buffer.from(handle, 'base64url'), userHandle(row.user_id))) {
        return { ok: false, reason: 'user_handle_mismatch', userId: null };
      }
      const checked = await deps.checkAssertion(row, response, ceremony.challenge, { requireUserVerification: true, context });
      if (!checked.ok) return { ok: false, reason: checked.reason, userId: row.user_id };
      return { ok: true, userId: row.user_id, factorId: row.id, amr: [checked.key, 'user', 'mfa'] };
    },
  };
}

export type Passkeys = ReturnType<typeof createPasskeys>;
