import type { RequestContext } from '../../shared/context.js';
import type { AccountService, LocksSet } from '../accounts/index.js';
import type { AuditService } from '../audit/index.js';
import type { LoginMethod, MfaService, Proof } from '../mfa/index.js';
import type { SessionService, TokenPair } from '../sessions/index.js';
import type { EnrollableFactor, LoginAccess, OrgService } from '../orgs/index.js';
import { loginError } from './errors.js';
import { orgError } from '../orgs/errors.js';

export type LoginOutcome = 'success' | 'invalid_credentials' | 'throttled' | 'mfa_required';

export type LoginMode = 'token' | 'cookie';
export type LoginInput = { email: string; password: string; orgId?: string; deviceTokens?: readonly string[]; mode?: LoginMode };
export type LoginResult =
  | { status: 'authenticated'; pair: TokenPair; deviceToken: string }
  | { status: 'mfa_required'; mfaToken: string; methods: LoginMethod[]; deviceToken: string }
  | { status: 'mfa_enrollment_required'; mfaToken: string; methods: EnrollableFactor[]; deviceToken: string };

/** The org side of a login for an org (orgs' loginAccess): the member's access and the policy's rule. */
export type OrgAccessCheck = LoginAccess;

/**
 * The login flow: it orchestrates accounts (who is this, and is the password right), mfa (is a
 * second factor needed, and is this one right) and sessions (open one), and nothing depends on
 * it. A second factor is a state of the result (`mfa_required` and an mfa_token), not a hook
 * bolted on elsewhere; the factors themselves are behind mfa's `SecondFactor`.
 */
export function createLoginService(deps: {
  accounts: AccountService;
  sessions: SessionService;
  mfa: MfaService;
  orgs: Pick<OrgService, 'loginAccess' | 'grantFor'>;
  audit: AuditService;
  onOutcome?: (outcome: LoginOutcome) => void;
}) {
  const { accounts, sessions, mfa, orgs, audit } = deps;
  const outcome = (o: LoginOutcome) => deps.onOutcome?.(o);

  /** A lock that a guess just set is the start of a lockout: audited, once per lock (not per refused attempt). */
  function auditLocks(locks: LocksSet, userId: string | null, context: RequestContext) {
    for (const lock of locks) {
      audit.recordDetached({
        action: 'session.login_throttled',
        actorId: userId,
        data: { scope: lock.scope, seconds: lock.seconds },
        context,
      });
    }
  }

  /**
   * Opens the session; `proved` (the second factor's method and what it reported) goes into the
   * login's audit event. `org`: the org access the login just checked (else sessions resolves it).
   */
  async function open(
    userId: string,
    orgId: string | null,
    amr: string[],
    aal: number,
    context: RequestContext,
    proved?: Record<string, unknown>,
    org?: OrgAccessCheck,
  ) {
    // What proved the second factor: the second step's method (the passkey login says webauthn); none for the password alone.
    const method = typeof proved?.method === 'string' ? proved.method : null;
    const grant = org ? orgs.grantFor(org.access, aal, method) : undefined;
    const pair = await sessions.start({ userId, orgId, grant, amr, aal, method, context });
    audit.recordDetached({
      action: 'session.login',
      orgId,
      actorId: userId,
      targetType: 'session',
      targetId: pair.session_id,
      data: { amr, aal, ...proved },
      context,
    });
    outcome('success');
    return pair;
  }

  return {
    async login(input: LoginInput, context: RequestContext): Promise<LoginResult> {
      const check = await accounts.checkLoginPassword(input.email, input.password, context.ip, input.deviceTokens);
      if (check.outcome === 'throttled') {
        outcome('throttled');
        throw loginError('LOGIN_THROTTLED', `Too many failed attempts; try again in ${check.retryAfter} seconds.`, {
          retry_after: check.retryAfter,
        });
      }
      auditLocks(check.locksSet, check.outcome === 'ok' ? check.user.id : check.userId, context);
      if (check.outcome === 'invalid') {
        outcome('invalid_credentials');
        // The reason is for the audit trail only: the caller learns nothing about which check failed.
        audit.recordDetached({ action: 'session.login_failed', actorId: check.userId, data: { reason: check.reason }, context });
        throw loginError('INVALID_CREDENTIALS', 'The email or password is not correct, or the address has not been confirmed yet.');
      }
      const { user } = check;
      // Null only without a confirmed factor; an empty list still takes the second step (fail closed).
      const accountMethods = await mfa.loginMethods(user.id);
      // For an org: its member only (403 otherwise, and only once the password was right), and its policy's rule.
      const org = input.orgId ? await orgs.loginAccess(user.id, input.orgId, accountMethods) : undefined;
      const park = async (purpose: 'mfa' | 'enroll', methods: LoginMethod[]) =>
        mfa.openLogin(
          { userId: user.id, orgId: input.orgId ?? null, mode: input.mode ?? 'token', amr: ['pwd'], purpose, methods },
          // The hash this password was just checked against: a change committed since ends the login.
          user.password_hash,
        );
      if (org?.rule.kind === 'enroll') {
        const methods = org.rule.factors;
        // An account that has second factors (none the org allows) is not let in to enrol one on
        // its password alone: that would be weaker than its own login. It signs in without the
        // org (its own factors), adds an allowed one, and then signs in to the org.
        if (accountMethods !== null) {
          throw orgError(
            'ORG_FACTOR_NOT_ALLOWED',
            `This organization does not accept your second factors: sign in without it and set up one of ${methods.join(', ')} first.`,
            { methods },
          );
        }
        const mfaToken = await park('enroll', methods);
        audit.recordDetached({
          action: 'session.mfa_enrollment_required',
          orgId: input.orgId,
          actorId: user.id,
          data: { methods },
          context,
        });
        outcome('mfa_required');
        return { status: 'mfa_enrollment_required', mfaToken, methods, deviceToken: check.deviceToken };
      }
      const methods = org?.rule.kind === 'methods' ? (org.rule.methods as LoginMethod[]) : accountMethods;
      if (methods !== null) {
        const mfaToken = await park('mfa', methods);
        audit.recordDetached({ action: 'session.mfa_required', orgId: input.orgId, actorId: user.id, data: { methods }, context });
        outcome('mfa_required');
        return { status: 'mfa_required', mfaToken, methods, deviceToken: check.deviceToken };
      }
      const pair = await open(user.id, input.orgId ?? null, ['pwd'], 1, context, undefined, org);
      return { status: 'authenticated', pair, deviceToken: check.deviceToken };
    },

    /** The second step: the factor's proof for a parked login; opens an aal2 session. */
    async completeMfa(input: { mfaToken: string; method: LoginMethod; proof: Proof }, context: RequestContext) {
      const done = await mfa.completeLogin(input.mfaToken, input.method, input.proof, context);
      const pair = await open(done.pending.userId, done.pending.orgId, done.amr, done.aal, context, done.proved);
      return { pair, mode: done.pending.mode };
    },

    /** SMS: send the code; WebAuthn: the request options. */
    async mfaChallenge(mfaToken: string, method: LoginMethod, context: RequestContext) {
      return mfa.loginChallenge(mfaToken, method, context);
    },

    /** Opens the session of a login proved another way (a passkey: passkey.ts), audited and counted like every login. */
    openSession: open,
  };
}

export type LoginService = ReturnType<typeof createLoginService>;
