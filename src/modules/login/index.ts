import type { Routes } from '../../http/types.js';
import type { AccountService } from '../accounts/index.js';
import type { AuditService } from '../audit/index.js';
import type { MfaService, Passkeys } from '../mfa/index.js';
import type { SessionService } from '../sessions/index.js';
import type { OrgService } from '../orgs/index.js';
import { createLoginEnrolment } from './enrollment.js';
import { enrolmentRoutes } from './enroll-routes.js';
import { createPasskeyLogin } from './passkey.js';
import { passkeyRoutes } from './passkey-routes.js';
import { loginRoutes } from './routes.js';
import { createLoginService, type LoginOutcome } from './service.js';

/** The login flow. A leaf: it depends on accounts, mfa, orgs and sessions, and nothing depends on it. */
export function createLoginModule(deps: {
  accounts: AccountService;
  sessions: SessionService;
  mfa: MfaService;
  /** The webauthn factor's passwordless ceremony (mfa.factors.webauthn.passkeys). */
  passkeys: Passkeys;
  orgs: OrgService;
  audit: AuditService;
  onOutcome?: (outcome: LoginOutcome) => void;
}) {
  const service = createLoginService(deps);
  const passkey = createPasskeyLogin({
    passkeys: deps.passkeys,
    audit: deps.audit,
    open: service.openSession,
    orgAccess: (userId, orgId, methods) => deps.orgs.loginAccess(userId, orgId, methods),
    outcome: (o) => deps.onOutcome?.(o),
  });
  // A login that must set up a factor (org policy): the set-up's confirmation opens the session.
  const enrolment = createLoginEnrolment({ mfa: deps.mfa, open: service.openSession });
  const routes: Routes = async (app, kit) => {
    await loginRoutes(service)(app, kit);
    await passkeyRoutes(passkey)(app, kit);
    await enrolmentRoutes(enrolment)(app, kit);
  };
  return { service, passkey, enrolment, routes };
}

export type { LoginOutcome, LoginService } from './service.js';
