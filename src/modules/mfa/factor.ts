import type { AuditContext } from '../audit/index.js';
import type { FactorRow } from './store.js';

/** How a second factor is named at login (`methods`, `POST /v1/login/mfa {method}`). */
export type LoginMethod = 'totp' | 'backup_code' | 'sms' | 'webauthn';

/**
 * What a login (or a reauthentication) is proving itself to. `id` keys everything a factor binds
 * to the attempt (an SMS code, a WebAuthn challenge): the hash of the mfa_token for a login,
 * `reauth:<session id>` for a step-up.
 */
export type Attempt = {
  id: string;
  userId: string;
  purpose: 'login' | 'reauthenticate';
  /** What this factor asked to carry with a parked login (see `SecondFactor.carry`); absent otherwise. */
  carried?: unknown;
};

/** The proof a client sends: a code (TOTP, backup, SMS) or a WebAuthn assertion (`PublicKeyCredential.toJSON()`). */
export type Proof = { code?: string; response?: unknown };

/** A factor that accepted its proof. `amr` are RFC 8176 values; `data` goes to the audit event. */
export type Verified = { amr: string[]; factorId?: string; data?: Record<string, unknown> };

/**
 * One second factor at login, the way Ory Kratos keeps one strategy per method: the login flow
 * knows only this interface, so a new factor is a new file registered in index.ts and nothing in
 * login changes. Enrolment (enrol, confirm, remove) is the factor's own, with its own inputs,
 * behind its own routes; what every factor does when it is turned on or off is in lifecycle.ts.
 */
export interface SecondFactor {
  readonly method: LoginMethod;
  /** Whether this user can use the method now, judged from their confirmed factors (no query). */
  availableWith(confirmed: readonly FactorRow[], backupCodesRemaining: number): boolean;
  /**
   * Optional: what the second step will need of the factor rows, read once at the first step and
   * carried in the parked login (the KV record) so that the second step, the hot one, needs no
   * query for it. Nothing secret in clear: a sealed secret stays sealed. The factor must still
   * check, when it verifies, that the row it carried is the live one.
   */
  carry?(confirmed: readonly FactorRow[]): unknown;
  /** Optional first step bound to the attempt: sends the SMS code, or returns WebAuthn request options. */
  challenge?(attempt: Attempt, context: AuditContext): Promise<Record<string, unknown>>;
  /** The proof checked against the user's factor; null when it is wrong (the caller counts the failure). */
  verify(attempt: Attempt, proof: Proof, context: AuditContext): Promise<Verified | null>;
}
