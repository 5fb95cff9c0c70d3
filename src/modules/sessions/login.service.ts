import type { AuditContext, AuditService } from '../audit/service.js';
import type { AccountService } from '../accounts/service.js';
import type { LoginThrottle } from './login-throttle.js';
import type { SessionService, TokenPair } from './service.js';
import { sessionError } from './errors.js';

export type LoginOutcome = 'success' | 'invalid_credentials' | 'throttled' | 'unverified';

/** Password login. Its result already has room for the MFA states that come with MFA. */
export function createLoginService(deps: {
  accounts: AccountService;
  sessions: SessionService;
  throttle: LoginThrottle;
  audit: AuditService;
  requireEmailVerification: boolean;
  onOutcome?: (outcome: LoginOutcome) => void;
}) {
  const { accounts, sessions, throttle, audit } = deps;
  const outcome = (o: LoginOutcome) => deps.onOutcome?.(o);

  return {
    async login(input: { email: string; password: string; orgId?: string }, context: AuditContext & { ip: string }): Promise<TokenPair> {
      const wait = await throttle.admit(input.email, context.ip);
      if (wait > 0) {
        outcome('throttled');
        throw sessionError('LOGIN_THROTTLED', `Too many failed attempts; try again in ${wait} seconds.`, {
          headers: { 'retry-after': String(wait) },
          extra: { retry_after: wait },
        });
      }
      const user = await accounts.authenticate(input.email, input.password);
      if (!user) {
        outcome('invalid_credentials');
        throw sessionError('INVALID_CREDENTIALS', 'The email or password is not correct.');
      }
      await throttle.recordSuccess(input.email, context.ip);
      // Asked only after the password proved the caller owns the account, so it reveals nothing.
      if (deps.requireEmailVerification && !accounts.isVerified(user)) {
        outcome('unverified');
        throw sessionError('EMAIL_NOT_VERIFIED', 'Confirm your email address first; the link is in the email we sent.');
      }
      // Organizations and memberships arrive later; until then no org can be vouched for.
      if (input.orgId) throw sessionError('ORG_ACCESS_DENIED', 'You are not a member of that organization.');
      const pair = await sessions.start({ userId: user.id, orgId: null, amr: ['pwd'], aal: 1, context });
      audit.recordDetached({ action: 'session.login', actorId: user.id, targetType: 'session', targetId: pair.session_id, data: { amr: ['pwd'] }, context });
      outcome('success');
      return pair;
    },
  };
}

export type LoginService = ReturnType<typeof createLoginService>;
