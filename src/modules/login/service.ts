import type { RequestContext } from '../../shared/context.js';
import type { AccountService } from '../accounts/index.js';
import type { AuditService } from '../audit/index.js';
import type { SessionService, TokenPair } from '../sessions/index.js';
import { loginError } from './errors.js';

export type LoginOutcome = 'success' | 'invalid_credentials' | 'throttled' | 'unverified';

/**
 * The login flow: it orchestrates accounts (who is this, and is the password right) and sessions
 * (open one), and nothing depends on it. Password login now; the MFA step comes here as a state
 * of the result, not as a hook bolted on elsewhere.
 */
export function createLoginService(deps: {
  accounts: AccountService;
  sessions: SessionService;
  audit: AuditService;
  requireEmailVerification: boolean;
  onOutcome?: (outcome: LoginOutcome) => void;
}) {
  const { accounts, sessions, audit } = deps;
  const outcome = (o: LoginOutcome) => deps.onOutcome?.(o);

  return {
    async login(input: { email: string; password: string; orgId?: string }, context: RequestContext): Promise<TokenPair> {
      const check = await accounts.checkLoginPassword(input.email, input.password, context.ip);
      if (check.outcome === 'throttled') {
        outcome('throttled');
        throw loginError('LOGIN_THROTTLED', `Too many failed attempts; try again in ${check.retryAfter} seconds.`, {
          retry_after: check.retryAfter,
        });
      }
      if (check.outcome === 'invalid') {
        outcome('invalid_credentials');
        throw loginError('INVALID_CREDENTIALS', 'The email or password is not correct.');
      }
      const { user } = check;
      // Asked only after the password proved the caller owns the account, so it reveals nothing.
      if (deps.requireEmailVerification && !accounts.isVerified(user)) {
        outcome('unverified');
        throw loginError('EMAIL_NOT_VERIFIED', 'Confirm your email address first; the link is in the email we sent.');
      }
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
      return pair;
    },
  };
}

export type LoginService = ReturnType<typeof createLoginService>;
