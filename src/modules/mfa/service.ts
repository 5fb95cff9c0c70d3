import type { Clock } from '../../infra/clock.js';
import { authError } from '../../shared/common-errors.js';
import type { AccountService } from '../accounts/index.js';
import type { AuditContext, AuditService } from '../audit/index.js';
import type { SessionService } from '../sessions/index.js';
import { mfaError } from './errors.js';
import type { Attempt, LoginMethod, Proof, SecondFactor, Verified } from './factor.js';
import type { FailureBudget } from './failure-budget.js';
import type { BackupCodes } from './factors/backup-codes.js';
import type { LoginAttempts, PendingLogin } from './login-attempts.js';
import type { FactorRow, MfaStore } from './store.js';

/** Step-up: how long an authentication counts as recent. */
export const RECENT_AUTH_SECONDS = 300;

type Deps = {
  store: MfaStore;
  factors: readonly SecondFactor[];
  backupCodes: BackupCodes;
  attempts: LoginAttempts;
  budget: FailureBudget;
  sessions: SessionService;
  accounts: AccountService;
  audit: AuditService;
  clock: Clock;
};

const unique = (values: string[]) => [...new Set(values)];

/**
 * The second step of a login, step-up and what the user sees of their factors. It knows the
 * factors only as `SecondFactor`s: which methods an account has, and "check this proof".
 */
export function createMfaService(deps: Deps) {
  const { store, attempts, budget, sessions, accounts, audit, clock } = deps;
  const byMethod = new Map(deps.factors.map((f) => [f.method, f]));

  async function methodsOf(userId: string, confirmed?: readonly FactorRow[]): Promise<LoginMethod[]> {
    const rows = confirmed ?? (await store.listConfirmed(userId));
    if (rows.length === 0) return [];
    const remaining = await deps.backupCodes.remaining(userId);
    return deps.factors.filter((f) => f.availableWith(rows, remaining)).map((f) => f.method);
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

  async function checkBudget(userId: string) {
    const wait = await budget.blocked(userId);
    if (wait !== null) {
      throw mfaError('MFA_THROTTLED', `Too many wrong second factors; try again in ${wait} seconds.`, { retry_after: wait });
    }
  }

  /** A wrong proof: counted against the account and audited (the method, never the code). */
  async function wrong(attempt: Attempt, method: string, context: AuditContext) {
    await budget.fail(attempt.userId);
    audit.recordDetached({
      action: 'mfa.verification_failed',
      actorId: attempt.userId,
      data: { method, purpose: attempt.purpose },
      context,
    });
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

  async function pendingLogin(mfaToken: string) {
    const found = await attempts.find(mfaToken);
    if (!found) throw mfaError('MFA_TOKEN_INVALID', 'The MFA token is invalid, expired or used up; sign in again.');
    const attempt: Attempt = { id: found.id, userId: found.pending.userId, purpose: 'login' };
    return { ...found, attempt };
  }

  return {
    /** The methods an account can complete a login with (empty: no second factor). */
    loginMethods: (userId: string) => methodsOf(userId),

    /** Parks a password login that needs a second factor; returns the mfa_token. */
    async openLogin(pending: Omit<PendingLogin, 'createdAt'>): Promise<string> {
      return attempts.open(pending, clock.now());
    },

    /** The first half of a two-step method (SMS: send the code; WebAuthn: request options). */
    async loginChallenge(mfaToken: string, method: LoginMethod, context: AuditContext): Promise<Record<string, unknown>> {
      const { attempt, pending } = await pendingLogin(mfaToken);
      if (pending.purpose !== 'mfa') throw mfaError('MFA_METHOD_UNAVAILABLE', 'This token can only enrol a factor.');
      const factor = await factorFor(attempt.userId, method);
      if (!factor.challenge) throw mfaError('MFA_METHOD_UNAVAILABLE', `The method "${method}" needs no challenge.`);
      await checkBudget(attempt.userId);
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
      const factor = await factorFor(attempt.userId, method);
      await checkBudget(attempt.userId);
      const left = await attempts.reserve(id);
      if (left === null) throw mfaError('MFA_TOKEN_INVALID', 'The MFA token is used up; sign in again.');
      const verified = await factor.verify(attempt, proof, context);
      if (!verified) {
        await wrong(attempt, method, context);
        if (left === 0) await attempts.exhausted(id);
        throw mfaError(
          'MFA_CODE_INVALID',
          left === 0 ? 'The code is not correct, and that was the last try; sign in again.' : 'The code is not correct.',
          { attempts_remaining: left },
        );
      }
      if (!(await attempts.complete(id))) throw mfaError('MFA_TOKEN_INVALID', 'This login was already completed.');
      audited(attempt, method, verified, context);
      return { pending, amr: unique([...pending.amr, ...verified.amr]), aal: 2, verified };
    },

    /**
     * Step-up: throws REAUTHENTICATION_REQUIRED unless the session authenticated within five
     * minutes at aal2, or (for an account without a factor) with its password.
     */
    async assertRecentAuth(userId: string, sessionId: string): Promise<void> {
      const [state, confirmed] = await Promise.all([sessions.authState(sessionId), store.listConfirmed(userId)]);
      const requiredAal = confirmed.length > 0 ? 2 : 1;
      const recent = state !== null && clock.now().getTime() - state.authAt.getTime() <= RECENT_AUTH_SECONDS * 1000;
      if (recent && state.authAal >= requiredAal) return;
      const methods = requiredAal === 2 ? await methodsOf(userId, confirmed) : ['password'];
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
      await checkBudget(userId);
      return factor.challenge(attempt, context);
    },

    /**
     * Marks the session fresh: with the password (aal 1) or a second factor (aal 2). A wrong
     * factor counts against the account's budget, like at login.
     */
    async reauthenticate(
      userId: string,
      sessionId: string,
      input: { password: string } | { method: LoginMethod; proof: Proof },
      context: AuditContext,
    ) {
      let proved: { aal: number; amr: string[]; method: string };
      if ('password' in input) {
        await accounts.confirmPassword(userId, input.password, context);
        proved = { aal: 1, amr: ['pwd'], method: 'password' };
      } else {
        const attempt: Attempt = { id: `reauth:${sessionId}`, userId, purpose: 'reauthenticate' };
        const factor = await factorFor(userId, input.method);
        await checkBudget(userId);
        const verified = await factor.verify(attempt, input.proof, context);
        if (!verified) {
          await wrong(attempt, input.method, context);
          throw mfaError('MFA_CODE_INVALID', 'The code is not correct.');
        }
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
    async summary(userId: string) {
      const confirmed = await store.listConfirmed(userId);
      const remaining = confirmed.length ? await deps.backupCodes.remaining(userId) : 0;
      return {
        enabled: confirmed.length > 0,
        methods: await methodsOf(userId, confirmed),
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
