import { randomUUID } from 'node:crypto';
import type { Clock } from '../../infra/clock.js';
import { authError } from '../../shared/common-errors.js';
import type { AccountService } from '../accounts/index.js';
import type { AuditContext, AuditService } from '../audit/index.js';
import type { SessionService } from '../sessions/index.js';
import { mfaEmails, type Notices } from './emails.js';
import { createLoginEnrolment, type EnrolmentFactors } from './enrollment.js';
import { mfaError } from './errors.js';
import type { Attempt, LoginMethod, Proof, SecondFactor, Verified } from './factor.js';
import type { FailureBudget, Refusal } from './failure-budget.js';
import type { BackupCodes } from './factors/backup-codes.js';
import type { LoginAttempts, PendingLogin } from './login-attempts.js';
import { passwordFingerprint, type CredentialMarks } from './credential-marks.js';
import { AppError } from '../../shared/errors.js';
import type { FactorRow, MfaStore } from './store.js';

/** Step-up: how long an authentication counts as recent. */
export const RECENT_AUTH_SECONDS = 300;

type Deps = {
  store: MfaStore;
  factors: readonly SecondFactor[];
  backupCodes: BackupCodes;
  attempts: LoginAttempts;
  /** Which password a parked login was opened under (a password change ends it). */
  credentials: CredentialMarks;
  budget: FailureBudget;
  /** Emails the owner (the second step locking). */
  notices: Notices;
  sessions: SessionService;
  accounts: AccountService;
  audit: AuditService;
  clock: Clock;
  /** The set-ups an enroll-purpose mfa_token may run (enrollment.ts); absent, it can set up none. */
  enrolment?: EnrolmentFactors;
};

const unique = (values: string[]) => [...new Set(values)];

/**
 * The second step of a login, step-up and what the user sees of their factors. It knows the
 * factors only as `SecondFactor`s: which methods an account has, and "check this proof".
 */
export function createMfaService(deps: Deps) {
  const { store, attempts, budget, sessions, accounts, audit, clock } = deps;
  const byMethod = new Map(deps.factors.map((f) => [f.method, f]));

  async function methodsOf(userId: string, confirmed?: readonly FactorRow[], backupCodesRemaining?: number): Promise<LoginMethod[]> {
    const rows = confirmed ?? (await store.listConfirmed(userId));
    if (rows.length === 0) return [];
    const remaining = backupCodesRemaining ?? (await deps.backupCodes.remaining(userId));
    return deps.factors.filter((f) => f.availableWith(rows, remaining)).map((f) => f.method);
  }

  /**
   * What step-up asks of this account: aal 2 (any of `methods`) once a factor is confirmed, else
   * the password. Judged from the confirmed rows, not from the methods on offer, so a factor that
   * cannot be used right now never lowers the bar.
   */
  async function requirement(userId: string): Promise<{ requiredAal: number; methods: string[] }> {
    const confirmed = await store.listConfirmed(userId);
    if (confirmed.length === 0) return { requiredAal: 1, methods: ['password'] };
    return { requiredAal: 2, methods: await methodsOf(userId, confirmed) };
  }

  async function factorFor(userId: string, method: string): Promise<SecondFactor> {
    const factor = byMethod.get(method as LoginMethod);
    if (!factor || !(await methodsOf(userId)).includes(factor.method)) {
      throw mfaError('MFA_METHOD_UNAVAILABLE', `The method "${method}" is not set up for this account.`, {
        methods: await methodsOf(userId),
      });
    }
    return factor;
  }

  /** The second step just locked (this request's failure, or its first refusal, found it so): audited, and the owner told once. */
  function lockEngaged(userId: string, context: AuditContext) {
    audit.recordDetached({ action: 'mfa.locked', actorId: userId, data: { failures: budget.lockAfter }, context });
    deps.notices.send(userId, (to) => mfaEmails.secondFactorLocked(to, budget.lockAfter));
  }

  /** The error for a try the budget refused unchecked. */
  function refused(userId: string, refusal: Refusal, context: AuditContext) {
    if (!refusal.locked) {
      const wait = refusal.wait;
      return mfaError('MFA_THROTTLED', `Too many wrong second factors; try again in ${wait} seconds.`, { retry_after: wait });
    }
    if (refusal.engaged) lockEngaged(userId, context);
    return mfaError(
      'MFA_LOCKED',
      'Too many wrong second factors in a row: they are no longer checked for this account. Reset your password (POST /v1/password/forgot) to unlock them.',
    );
  }

  /** Before a challenge (an SMS sent, options issued): refused while the budget is spent or locked; takes nothing. */
  async function checkBudget(userId: string, context: AuditContext) {
    const refusal = await budget.blocked(userId);
    if (refusal) throw refused(userId, refusal, context);
  }

  /**
   * A wrong proof (its try stays taken from the budget): audited, with the method, never the
   * code; the failure that reaches the lock engages it.
   */
  async function wrong(attempt: Attempt, method: string, streak: number, context: AuditContext) {
    audit.recordDetached({
      action: 'mfa.verification_failed',
      actorId: attempt.userId,
      data: { method, purpose: attempt.purpose },
      context,
    });
    if (await budget.wrong(attempt.userId, streak)) lockEngaged(attempt.userId, context);
  }

  function audited(attempt: Attempt, method: string, verified: Verified, context: AuditContext) {
    audit.recordDetached({
      action: 'mfa.verified',
      actorId: attempt.userId,
      targetType: verified.factorId ? 'mfa_factor' : undefined,
      targetId: verified.factorId,
      data: { method, purpose: attempt.purpose, ...verified.data },
      context,
    });
  }

  /**
   * A fingerprint of the account's current password (of its stored hash), or null when the
   * account is gone. A parked login carries the one it was opened with: a password change or reset
   * in the meantime ends it, as it ends the account's sessions.
   */
  async function currentFingerprint(userId: string): Promise<string | null> {
    try {
      return passwordFingerprint((await accounts.getProfile(userId)).password_hash);
    } catch (err) {
      if (err instanceof AppError && err.code === 'USER_NOT_FOUND') return null;
      throw err;
    }
  }

  async function pendingLogin(mfaToken: string) {
    const found = await attempts.find(mfaToken, clock.now());
    if (!found) throw mfaError('MFA_TOKEN_INVALID', 'The MFA token is invalid, expired or used up; sign in again.');
    const { userId, credential } = found.pending;
    if (!(await deps.credentials.holds(userId, credential, () => currentFingerprint(userId)))) {
      await attempts.exhausted(found.id);
      throw mfaError('MFA_TOKEN_INVALID', 'The password changed (or the account was deleted) since this sign-in began; sign in again.');
    }
    const attempt: Attempt = { id: found.id, userId: found.pending.userId, purpose: 'login' };
    return { ...found, attempt };
  }

  return {
    /**
     * Whether a password login must take a second step, and the methods it can take it with.
     * Null: the account has no confirmed factor. A confirmed factor with no usable method still
     * needs the second step (with no way to take it): a login never falls back to the password alone.
     */
    async loginMethods(userId: string): Promise<LoginMethod[] | null> {
      const confirmed = await store.listConfirmed(userId);
      return confirmed.length === 0 ? null : methodsOf(userId, confirmed);
    },

    /**
     * Parks a password login that needs a second factor; returns the mfa_token. `passwordHash` is
     * the hash the first step checked the password against (not one read now, which a change
     * committed in between could already have replaced).
     */
    async openLogin(
      pending: Omit<PendingLogin, 'createdAt' | 'credential' | 'carried' | 'enrolId'>,
      passwordHash: string,
    ): Promise<string> {
      const credential = passwordFingerprint(passwordHash);
      // USER_NOT_FOUND when the account was deleted while this login was on its way.
      const [, confirmed] = await Promise.all([
        accounts.getProfile(pending.userId),
        store.listConfirmed(pending.userId),
        deps.credentials.note(pending.userId, credential),
      ]);
      const carried: PendingLogin['carried'] = {};
      for (const factor of deps.factors)
        if (factor.carry && pending.methods.includes(factor.method)) carried[factor.method] = factor.carry(confirmed);
      // An enrolment binds its set-up to this id (no session exists yet): to this login attempt only.
      const enrolId = pending.purpose === 'enroll' ? { enrolId: randomUUID() } : {};
      return attempts.open({ ...pending, ...enrolId, credential, carried }, clock.now());
    },

    /** The first half of a two-step method (SMS: send the code; WebAuthn: request options). */
    async loginChallenge(mfaToken: string, method: LoginMethod, context: AuditContext): Promise<Record<string, unknown>> {
      const { attempt, pending } = await pendingLogin(mfaToken);
      if (pending.purpose !== 'mfa') throw mfaError('MFA_METHOD_UNAVAILABLE', 'This token can only enrol a factor.');
      const factor = await factorFor(attempt.userId, method);
      if (!factor.challenge) throw mfaError('MFA_METHOD_UNAVAILABLE', `The method "${method}" needs no challenge.`);
      await checkBudget(attempt.userId, context);
      return factor.challenge(attempt, context);
    },

    /**
     * Checks the second factor of a parked login. On success the token is spent and the pending
     * login comes back with what it now proves (aal 2, amr of both steps); the caller opens the
     * session. Five tries per token in all, reserved before checking, so parallel guesses share them.
     */
    async completeLogin(mfaToken: string, method: LoginMethod, proof: Proof, context: AuditContext) {
      const { id, attempt, pending } = await pendingLogin(mfaToken);
      if (pending.purpose !== 'mfa') throw mfaError('MFA_METHOD_UNAVAILABLE', 'This token can only enrol a factor.');
      // The methods were settled at the first step and travel with the token (no query on the
      // hot path); a factor removed since then simply fails its own check below.
      const factor = byMethod.get(method);
      if (!factor || !pending.methods.includes(method)) {
        throw mfaError('MFA_METHOD_UNAVAILABLE', `The method "${method}" is not set up for this account.`, { methods: pending.methods });
      }
      // One try from the account's budget and one from the token's, taken together (the KV
      // client pipelines them into one round trip); each is given back if the other refuses.
      const [taken, left] = await Promise.all([budget.take(attempt.userId), attempts.reserve(id)]);
      if (!taken.ok) {
        // Nothing was checked: the token keeps its try.
        if (left !== null) await attempts.release(id);
        throw refused(attempt.userId, taken, context);
      }
      if (left === null) {
        // Nothing was checked: the account's counts get the try back (the streak is not ended).
        await budget.release(attempt.userId);
        throw mfaError('MFA_TOKEN_INVALID', 'The MFA token is used up; sign in again.');
      }
      const verified = await factor.verify({ ...attempt, carried: pending.carried?.[method] }, proof, context);
      if (!verified) {
        await wrong(attempt, method, taken.streak, context);
        if (left === 0) await attempts.exhausted(id);
        throw mfaError(
          'MFA_CODE_INVALID',
          left === 0 ? 'The code is not correct, and that was the last try; sign in again.' : 'The code is not correct.',
          { attempts_remaining: left },
        );
      }
      // A right factor: the window gets its try back and the streak of wrong ones ends.
      const [, completed] = await Promise.all([budget.right(attempt.userId), attempts.complete(id)]);
      if (!completed) throw mfaError('MFA_TOKEN_INVALID', 'This login was already completed.');
      // No event of its own: the session.login that follows records the method, the factor and
      // what the factor reported (one event per login, which matters at a thousand a second).
      const proved = { method, ...(verified.factorId ? { factor_id: verified.factorId } : {}), ...verified.data };
      return { pending, amr: unique([...pending.amr, ...verified.amr]), aal: 2, proved };
    },

    /** An enroll-purpose mfa_token: set up a factor, and its confirmation completes the login (enrollment.ts). */
    loginEnrolment: createLoginEnrolment({ factors: deps.enrolment, attempts, pendingLogin }),

    /**
     * Step-up: throws REAUTHENTICATION_REQUIRED unless the session authenticated within five
     * minutes at aal2, or (for an account without a factor) with its password.
     */
    async assertRecentAuth(userId: string, sessionId: string): Promise<void> {
      const [state, { requiredAal, methods }] = await Promise.all([sessions.authState(sessionId), requirement(userId)]);
      // Revoked since its access token was checked (a concurrent logout or deletion): say so, not "reauthenticate".
      if (state === null || state.userId !== userId) throw authError('SESSION_REVOKED', 'This session has been signed out.');
      const recent = clock.now().getTime() - state.authAt.getTime() <= RECENT_AUTH_SECONDS * 1000;
      if (recent && state.authAal >= requiredAal) return;
      throw authError(
        'REAUTHENTICATION_REQUIRED',
        requiredAal === 2
          ? 'Confirm it is you with a second factor first (POST /v1/me/reauthenticate).'
          : 'Confirm it is you with your password first (POST /v1/me/reauthenticate).',
        { required_aal: requiredAal, methods },
      );
    },

    /** The first half of a two-step method for a reauthentication (bound to the session). */
    async reauthChallenge(userId: string, sessionId: string, method: LoginMethod, context: AuditContext) {
      const attempt: Attempt = { id: `reauth:${sessionId}`, userId, purpose: 'reauthenticate' };
      const factor = await factorFor(userId, method);
      if (!factor.challenge) throw mfaError('MFA_METHOD_UNAVAILABLE', `The method "${method}" needs no challenge.`);
      await checkBudget(userId, context);
      return factor.challenge(attempt, context);
    },

    /**
     * Marks the session fresh: with the password (aal 1) or a second factor (aal 2). A wrong
     * factor counts against the account's budget (and streak), like at login.
     */
    async reauthenticate(
      userId: string,
      sessionId: string,
      input: { password: string } | { method: LoginMethod; proof: Proof },
      context: AuditContext,
    ) {
      let proved: { aal: number; amr: string[]; method: string };
      if ('password' in input) {
        // With a factor on, the password alone proves less than step-up asks: it is refused
        // unchecked (no password oracle for a stolen access token), and the session is left as
        // it was (a fresh aal2 is not lowered to aal1).
        const { requiredAal, methods } = await requirement(userId);
        if (requiredAal > 1) {
          throw authError('REAUTHENTICATION_REQUIRED', 'This account has a second factor: confirm it is you with one of them.', {
            required_aal: requiredAal,
            methods,
          });
        }
        await accounts.confirmPassword(userId, input.password, context);
        proved = { aal: 1, amr: ['pwd'], method: 'password' };
      } else {
        const attempt: Attempt = { id: `reauth:${sessionId}`, userId, purpose: 'reauthenticate' };
        const factor = await factorFor(userId, input.method);
        const taken = await budget.take(userId);
        if (!taken.ok) throw refused(userId, taken, context);
        const verified = await factor.verify(attempt, input.proof, context);
        if (!verified) {
          await wrong(attempt, input.method, taken.streak, context);
          throw mfaError('MFA_CODE_INVALID', 'The code is not correct.');
        }
        await budget.right(userId);
        audited(attempt, input.method, verified, context);
        proved = { aal: 2, amr: verified.amr, method: input.method };
      }
      if (!(await sessions.recordAuthentication(sessionId, userId, proved))) {
        throw authError('SESSION_REVOKED', 'This session has been signed out.');
      }
      audit.recordDetached({
        action: 'session.reauthenticated',
        actorId: userId,
        targetType: 'session',
        targetId: sessionId,
        data: { method: proved.method, aal: proved.aal },
        context,
      });
      const now = clock.now();
      return {
        aal: proved.aal,
        authenticated_at: now.toISOString(),
        fresh_until: new Date(now.getTime() + RECENT_AUTH_SECONDS * 1000).toISOString(),
      };
    },

    /** What GET /v1/me shows of a user's second factors (never a secret; phones masked). */
    /** Confirmed factor kinds per account (team lists, org policy checks). */
    factorKindsOf: (userIds: readonly string[]) => store.confirmedKinds(userIds),

    async summary(userId: string) {
      const confirmed = await store.listConfirmed(userId);
      const remaining = confirmed.length ? await deps.backupCodes.remaining(userId) : 0;
      return {
        enabled: confirmed.length > 0,
        methods: await methodsOf(userId, confirmed, remaining),
        factors: confirmed.map((f) => ({
          id: f.id,
          kind: f.kind,
          name: f.name,
          passkey: f.kind === 'webauthn' ? f.passkey : undefined,
          created_at: f.created_at.toISOString(),
          last_used_at: f.last_used_at?.toISOString() ?? null,
        })),
        backup_codes_remaining: remaining,
      };
    },
  };
}

export type MfaService = ReturnType<typeof createMfaService>;
