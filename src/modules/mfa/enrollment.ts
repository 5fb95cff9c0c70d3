import type { z } from 'zod';
import { AppError } from '../../shared/errors.js';
import type { AuditContext } from '../audit/index.js';
import { mfaError } from './errors.js';
import type { SmsFactor } from './factors/sms.js';
import type { TotpFactor } from './factors/totp.js';
import type { WebauthnFactor } from './factors/webauthn.js';
import { asRegistration, type registrationResponse } from './factors/webauthn/responses.js';
import type { LoginAttempts, PendingLogin } from './login-attempts.js';

/** The factors a login can set up (an org policy asks for one), each through its own enrolment code. */
export type EnrolmentFactors = {
  totp: Pick<TotpFactor, 'enrol' | 'confirm'>;
  sms: Pick<SmsFactor, 'enrol' | 'confirm'>;
  webauthn: Pick<WebauthnFactor, 'registrationOptions' | 'register'>;
};

export type EnrolMethod = keyof EnrolmentFactors;

/** A login completed by turning a factor on: the caller opens the session (aal 2) and shows the backup codes once. */
export type EnrolledLogin = {
  pending: PendingLogin;
  amr: string[];
  aal: 2;
  /** For the session.login audit event: the method, the new factor, and that it was set up now. */
  proved: Record<string, unknown>;
  /** With the account's first factor only (null otherwise), as /v1/me/mfa/.../confirm shows them. */
  backupCodes: string[] | null;
};

type Found = { id: string; pending: PendingLogin };
type Enabled = { factorId: string; amr: string[]; backupCodes: string[] | null };

/**
 * Setting up a factor during a login (`purpose: 'enroll'`: the org requires a second factor and
 * the member has none it allows). The token can do nothing else: set up one of its `methods`,
 * and confirm it, which completes the login at aal 2. There is no session yet, so the set-up is
 * bound to the parked login's `enrolId` where it would be bound to a session: a set-up started
 * with one token can be confirmed with that token only. The factor's own enrolment code does the
 * rest (its checks, its tries, the lifecycle: audit, mail, backup codes); lifting "the confirming
 * session" to aal 2 finds no session with that id and writes nothing.
 *
 * A confirmation spends the token's tries as the second step does (one reserved before anything
 * is checked, five in all), also when it fails for another reason than a wrong code; the
 * account's failure budget is not touched (the code is for a secret this caller was just given:
 * there is nothing to guess). Confirmations of one token run one at a time (so at most one factor
 * is turned on per token), and the token completes once.
 */
export function createLoginEnrolment(deps: {
  factors: EnrolmentFactors | undefined;
  attempts: LoginAttempts;
  /** The service's: the parked login, whose password must still be the account's (else MFA_TOKEN_INVALID). */
  pendingLogin: (mfaToken: string) => Promise<Found>;
}) {
  const { attempts } = deps;

  /** The parked enrolment behind the token, if it may set up `method`. */
  async function parked(mfaToken: string, method: EnrolMethod) {
    const { id, pending } = await deps.pendingLogin(mfaToken);
    if (pending.purpose !== 'enroll' || !pending.enrolId) {
      throw mfaError(
        'MFA_TOKEN_INVALID',
        'This MFA token is for the second step of a sign-in (POST /v1/login/mfa), not for setting up a factor.',
      );
    }
    if (!deps.factors || !pending.methods.includes(method)) {
      throw mfaError('MFA_METHOD_UNAVAILABLE', `The method "${method}" cannot be set up for this sign-in.`, { methods: pending.methods });
    }
    return { id, pending, userId: pending.userId, enrolId: pending.enrolId, factors: deps.factors };
  }

  /** The account deleted under the request (the lifecycle says SESSION_REVOKED, as to a session): the sign-in is over. */
  function translated(err: unknown): unknown {
    if (err instanceof AppError && err.code === 'SESSION_REVOKED') {
      return mfaError('MFA_TOKEN_INVALID', 'The account no longer exists; sign in again.');
    }
    return err;
  }

  async function challenge<T>(mfaToken: string, method: EnrolMethod, run: (p: Awaited<ReturnType<typeof parked>>) => Promise<T>) {
    const p = await parked(mfaToken, method);
    try {
      return await run(p);
    } catch (err) {
      throw translated(err);
    }
  }

  async function complete(
    mfaToken: string,
    method: EnrolMethod,
    confirm: (p: Awaited<ReturnType<typeof parked>>) => Promise<Enabled>,
  ): Promise<EnrolledLogin> {
    const { id } = await parked(mfaToken, method);
    if (!(await attempts.hold(id))) {
      throw mfaError('MFA_TOKEN_INVALID', 'Another request is completing this sign-in.');
    }
    try {
      // Read again under the hold: a confirmation that held it before this one may have completed the login.
      const p = await parked(mfaToken, method);
      const left = await attempts.reserve(p.id);
      if (left === null) throw mfaError('MFA_TOKEN_INVALID', 'The MFA token is used up; sign in again.');
      let enabled: Enabled;
      try {
        enabled = await confirm(p);
      } catch (err) {
        if (left === 0) await attempts.exhausted(p.id);
        if (err instanceof AppError && err.code === 'MFA_CODE_INVALID') {
          const factorLeft = typeof err.data.attempts_remaining === 'number' ? err.data.attempts_remaining : left;
          throw mfaError(
            'MFA_CODE_INVALID',
            left === 0 ? 'The code is not correct, and that was the last try; sign in again.' : (err.detail ?? 'The code is not correct.'),
            { attempts_remaining: Math.min(left, factorLeft) },
          );
        }
        throw translated(err);
      }
      if (!(await attempts.complete(p.id))) throw mfaError('MFA_TOKEN_INVALID', 'This login was already completed.');
      return {
        pending: p.pending,
        amr: [...new Set([...p.pending.amr, ...enabled.amr])],
        aal: 2,
        proved: { method, factor_id: enabled.factorId, enrolled: true },
        backupCodes: enabled.backupCodes,
      };
    } finally {
      await attempts.unhold(id);
    }
  }

  return {
    /** A new authenticator-app secret (text, otpauth URI, QR code), as POST /v1/me/mfa/totp answers it. */
    totp: (mfaToken: string) => challenge(mfaToken, 'totp', (p) => p.factors.totp.enrol(p.userId, p.enrolId)),

    confirmTotp: (mfaToken: string, code: string, context: AuditContext) =>
      complete(mfaToken, 'totp', async (p) => {
        const done = await p.factors.totp.confirm(p.userId, p.enrolId, code, {}, context);
        return { factorId: done.factor_id, amr: ['otp'], backupCodes: done.backupCodes };
      }),

    /** Texts a code to the number (a new code when it is the same number again). */
    sms: (mfaToken: string, phone: string, context: AuditContext) =>
      challenge(mfaToken, 'sms', (p) => p.factors.sms.enrol(p.userId, p.enrolId, phone, context)),

    confirmSms: (mfaToken: string, code: string, context: AuditContext) =>
      complete(mfaToken, 'sms', async (p) => {
        const done = await p.factors.sms.confirm(p.userId, p.enrolId, code, {}, context);
        return { factorId: done.factor_id, amr: ['sms'], backupCodes: done.backupCodes };
      }),

    /** Registration options for a security key, or a passkey. */
    webauthnOptions: (mfaToken: string, input: { passkey: boolean }) =>
      challenge(mfaToken, 'webauthn', (p) => p.factors.webauthn.registrationOptions(p.userId, p.enrolId, input)),

    registerWebauthn: (mfaToken: string, input: { response: z.infer<typeof registrationResponse>; name?: string }, context: AuditContext) =>
      complete(mfaToken, 'webauthn', async (p) => {
        const done = await p.factors.webauthn.register(
          p.userId,
          p.enrolId,
          { response: asRegistration(input.response), name: input.name },
          {},
          context,
        );
        // As a login with the key would name it (assertion.ts): a credential that may sync is a software key.
        const key = done.credential.device_type === 'multiDevice' ? 'swk' : 'hwk';
        return { factorId: done.credential.id, amr: [key], backupCodes: done.backupCodes };
      }),
  };
}

export type LoginEnrolment = ReturnType<typeof createLoginEnrolment>;
