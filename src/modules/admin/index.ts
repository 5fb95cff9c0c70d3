import type { AuditContext, AuditService } from '../audit/index.js';
import type { AccountService } from '../accounts/service.js';
import type { SessionService } from '../sessions/index.js';
import type { KeyService } from '../tokens/index.js';
import { adminRoutes } from './routes.js';
import { createAdminService } from './service.js';

type Deps = {
  audit: AuditService;
  sessions: Pick<SessionService, 'revokeAll'>;
  accounts: Pick<AccountService, 'getProfile'>;
  orgs: { setPlan: Parameters<typeof createAdminService>[0]['setPlan'] };
  keys: Pick<KeyService, 'rotate'>;
  /** Every personal access token of the account (pats, built before admin); the number revoked. */
  revokeAllTokens: (userId: string, actorId: string, reason: string, context: AuditContext) => Promise<number>;
};

/**
 * The operator API (/v1/admin/*): a leaf like login, which nothing depends on. Its routes take an
 * operator token (`kit.requireService('admin')`), made with `tessera operator-token`.
 */
export function createAdminModule(deps: Deps) {
  const service = createAdminService({
    audit: deps.audit,
    revokeAllSessions: (userId, reason) => deps.sessions.revokeAll(userId, reason),
    revokeAllTokens: deps.revokeAllTokens,
    requireUser: (userId) => deps.accounts.getProfile(userId),
    setPlan: deps.orgs.setPlan,
    keys: deps.keys,
  });
  return { service, routes: adminRoutes(service) };
}
