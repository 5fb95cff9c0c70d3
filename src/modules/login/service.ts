import type { RequestContext } from '../../shared/context.js';
import type { AccountService, LocksSet } from '../accounts/index.js';
import type { AuditService } from '../audit/index.js';
import type { SessionService, TokenPair } from '../sessions/index.js';
import { loginError } from './errors.js';

export type LoginOutcome = 'success' | 'invalid_credentials' | 'throttled';

export type LoginInput = { email: string; password: string; orgId?: string; deviceTokens?: readonly string[] };
export type LoginResult = { pair: TokenPair; deviceToken: string };

/**
 * The login flow: it orchestrates accounts (who is this, and is the password right) and sessions
 * (open one), and nothing depends on it. Password login now; the MFA step comes here as a state
 * of the result, not as a hook bolted on elsewhere.
 */
export function createLoginService(deps: {
  accounts: AccountService;
  sessions: SessionService;
  audit: AuditService;
  onOutcome?: (outcome: LoginOutcome) => void;
}) {
  const { accounts, sessions, audit } = deps;
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
      // Organizations and memberships arrive later; until then no org can be vouched for.
      if (input.orgId) throw loginError('ORG_ACCESS_DENIED', 'You are not a member of that organization.');
      const pair = await sessions.start({ userId: user.id, orgId: null, amr: ['pwd'], aal: 1, context });
      audit.recordDetached({
        action: 'session.login',
        actorId: user.id,
        targetType: 'session',
        targetId: pair.session_id,
        data: { amr: ['pwd'] },
        context,
      });
      outcome('success');
      return { pair, deviceToken: check.deviceToken };
    },
  };
}

export type LoginService = ReturnType<typeof createLoginService>;
