import { verifyAuthenticationResponse, type AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { Clock } from '../../../../infra/clock.js';
import type { Logger } from '../../../../infra/logger.js';
import type { AuditContext, AuditService } from '../../../audit/index.js';
import type { FactorRow, MfaStore } from '../../store.js';
import type { RelyingParty } from './credentials.js';
import { knownTransports } from './responses.js';

/**
 * RFC 8176 names the key an assertion proved possession of. A credential the authenticator may
 * copy to other devices (backup eligible: a synced passkey in iCloud Keychain, Google Password
 * Manager, a password manager) is `swk`: its private key exists outside any one piece of
 * hardware. A single-device credential (a security key, a device-bound platform key) is `hwk`.
 * Attestation is `none`, so this rests on the authenticator's own BE flag, not on a certificate.
 */
export type KeyAmr = 'hwk' | 'swk';

export type AssertionResult = { ok: true; key: KeyAmr; userVerified: boolean } | { ok: false; reason: AssertionFailure };
export type AssertionFailure = 'invalid_response' | 'bad_signature' | 'counter_not_increased';

/**
 * Checks one assertion against one stored credential: the challenge, origin and RP ID, the
 * flags (presence always, verification when asked), the signature, and then the signature
 * counter. The counter is checked here, after the signature and atomically in Postgres
 * (`advanceSignCount`: one UPDATE that only moves it forward), not by the library: the
 * library's check runs before the signature is verified (a forged assertion would raise a clone
 * alarm) and reads a counter that a concurrent login may have moved. A counter that does not
 * go up, on an authenticator that keeps one, means two authenticators hold the same key: the
 * assertion is refused and the event audited as a cloned credential.
 */
export function createAssertionCheck(deps: { store: MfaStore; audit: AuditService; clock: Clock; logger: Logger; rp: RelyingParty }) {
  const { store, rp } = deps;

  return async function checkAssertion(
    row: FactorRow,
    response: AuthenticationResponseJSON,
    challenge: string,
    options: { requireUserVerification: boolean; context: AuditContext },
  ): Promise<AssertionResult> {
    let info;
    try {
      const result = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: rp.origins,
        expectedRPID: rp.rpId,
        expectedType: 'webauthn.get',
        requireUserVerification: options.requireUserVerification,
        // 0 turns the library's own counter check off; ours follows the signature (see above).
        credential: {
          id: response.id,
          publicKey: new Uint8Array(row.public_key!),
          counter: 0,
          transports: knownTransports(row.transports),
        },
      });
      if (!result.verified) return { ok: false, reason: 'bad_signature' };
      info = result.authenticationInfo;
    } catch (err) {
      // The library's message names the failed check (origin, RP ID, type, flags); it holds no secret.
      deps.logger.debug({ factorId: row.id, reason: err instanceof Error ? err.message : String(err) }, 'webauthn assertion refused');
      return { ok: false, reason: 'invalid_response' };
    }

    if (!(await store.advanceSignCount(row.id, info.newCounter, deps.clock.now()))) {
      const stored = Number(row.sign_count ?? 0);
      deps.logger.warn({ factorId: row.id, stored, received: info.newCounter }, 'webauthn signature counter did not increase');
      deps.audit.recordDetached({
        action: 'mfa.webauthn_clone_detected',
        actorId: row.user_id,
        targetType: 'mfa_factor',
        targetId: row.id,
        data: { stored_counter: stored, received_counter: info.newCounter },
        context: options.context,
      });
      return { ok: false, reason: 'counter_not_increased' };
    }
    // BE cannot change after registration; if the two disagree, the weaker claim wins.
    const synced = row.device_type === 'multiDevice' || info.credentialDeviceType === 'multiDevice';
    return { ok: true, key: synced ? 'swk' : 'hwk', userVerified: info.userVerified };
  };
}

export type AssertionCheck = ReturnType<typeof createAssertionCheck>;
