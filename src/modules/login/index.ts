import type { AccountService } from '../accounts/index.js';
import type { AuditService } from '../audit/index.js';
import type { MfaService } from '../mfa/index.js';
import type { SessionService } from '../sessions/index.js';
import { loginRoutes } from './routes.js';
import { createLoginService, type LoginOutcome } from './service.js';

/** The login flow. A leaf: it depends on accounts, mfa and sessions, and nothing depends on it. */
export function createLoginModule(deps: {
  accounts: AccountService;
  sessions: SessionService;
  mfa: MfaService;
  audit: AuditService;
  onOutcome?: (outcome: LoginOutcome) => void;
}) {
  const service = createLoginService(deps);
  return { service, routes: loginRoutes(service) };
}

export type { LoginOutcome, LoginService } from './service.js';
