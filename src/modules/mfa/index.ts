import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/connect.js';
import type { Tx, WithTransaction } from '../../infra/db/unit-of-work.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Keyring } from '../../infra/keyring.js';
import type { Logger } from '../../infra/logger.js';
import type { Mailer } from '../../infra/mailer.js';
import type { Routes } from '../../http/types.js';
import type { AccountService } from '../accounts/index.js';
import type { AuditService } from '../audit/index.js';
import type { SessionService } from '../sessions/index.js';
import { createNotices } from './emails.js';
import { createFailureBudget, type FailureBudgetPolicy } from './failure-budget.js';
import { createBackupCodes } from './factors/backup-codes.js';
import type { FactorDeps } from './factors/deps.js';
import { createSmsFactor } from './factors/sms.js';
import { createTotpFactor } from './factors/totp.js';
import { createWebauthnFactor } from './factors/webauthn.js';
import { createFactorLifecycle } from './lifecycle.js';
import { createLoginAttempts } from './login-attempts.js';
import { createCredentialMarks, passwordFingerprint } from './credential-marks.js';
import { AppError } from '../../shared/errors.js';
import { mfaAccountRoutes } from './routes/account.js';
import { smsRoutes } from './routes/sms.js';
import { totpRoutes } from './routes/totp.js';
import { webauthnRoutes } from './routes/webauthn.js';
import { createMfaService } from './service.js';
import { createMfaStore } from './store.js';

type Deps = {
  db: Db;
  withTransaction: WithTransaction;
  kv: KeyValueStore;
  keyring: Keyring;
  mailer: Mailer;
  clock: Clock;
  logger: Logger;
  audit: AuditService;
  sessions: SessionService;
  accounts: AccountService;
  issuer: string;
  failureBudget: FailureBudgetPolicy;
  sms: Parameters<typeof createSmsFactor>[0]['sms'];
  webauthn: Parameters<typeof createWebauthnFactor>[0]['rp'];
  /** Orgs' policy (orgs depends on mfa): removing this factor would leave the account out of an org's policy. */
  factorRequired: (userId: string, remainingKinds: string[], tx: Tx) => Promise<boolean>;
};

/**
 * Second factors: TOTP, backup codes, SMS, WebAuthn keys and passkeys, one file each behind
 * `SecondFactor`; the second step of a login (the mfa_token); step-up. Login depends on it.
 */
export function createMfaModule(deps: Deps) {
  const store = createMfaStore(deps.db);
  const userEmail = (userId: string) => deps.accounts.emailOf(userId);
  const backupCodes = createBackupCodes({ store, clock: deps.clock, secrets: deps.keyring.deriveSecrets('tessera/backup-codes/v1') });
  const lifecycle = createFactorLifecycle({
    store,
    withTransaction: deps.withTransaction,
    backupCodes,
    sessions: deps.sessions,
    accounts: deps.accounts,
    audit: deps.audit,
    mailer: deps.mailer,
    logger: deps.logger,
    clock: deps.clock,
    userEmail,
    factorRequired: deps.factorRequired,
  });
  const factorDeps: FactorDeps = {
    store,
    lifecycle,
    kv: deps.kv,
    keyring: deps.keyring,
    audit: deps.audit,
    clock: deps.clock,
    logger: deps.logger,
    userEmail,
  };
  const totp = createTotpFactor({ ...factorDeps, issuer: deps.issuer });
  const sms = createSmsFactor({ ...factorDeps, sms: deps.sms });
  const webauthn = createWebauthnFactor({ ...factorDeps, rp: deps.webauthn });

  const credentials = createCredentialMarks(deps.kv);
  const budget = createFailureBudget(deps.kv, deps.failureBudget);
  const service = createMfaService({
    store,
    // The order methods are offered in at login.
    factors: [webauthn, totp, sms, backupCodes],
    backupCodes,
    attempts: createLoginAttempts(deps.kv),
    credentials,
    budget,
    notices: createNotices({ mailer: deps.mailer, logger: deps.logger, userEmail }),
    sessions: deps.sessions,
    accounts: deps.accounts,
    audit: deps.audit,
    clock: deps.clock,
    // What an enroll-purpose mfa_token can set up (an org policy requires a factor at login).
    enrolment: { totp, sms, webauthn },
  });

  const routes: Routes = async (app, kit) => {
    await mfaAccountRoutes(service, lifecycle)(app, kit);
    await totpRoutes(totp)(app, kit);
    await smsRoutes(sms)(app, kit);
    await webauthnRoutes(webauthn)(app, kit);
  };
  return {
    service,
    factors: { totp, sms, webauthn, backupCodes },
    routes,
    /** Accounts calls this after a password change, reset or deletion has committed: logins parked under the old password end. */
    // Never fails the password change that has already committed; a missed mark is logged.
    credentialChanged: (userId: string) =>
      deps.accounts
        .getProfile(userId)
        .then(
          (user) => passwordFingerprint(user.password_hash),
          (err: unknown) => {
            if (err instanceof AppError && err.code === 'USER_NOT_FOUND') return null;
            throw err;
          },
        )
        .then((fingerprint) => credentials.changed(userId, fingerprint))
        // A new password also ends the streak of wrong second factors, and a lock with it (whatever became of the mark).
        .finally(() =>
          budget.reset(userId).catch((err: unknown) => deps.logger.error({ err: String(err), userId }, 'second-factor streak not reset')),
        )
        .catch((err: unknown) => {
          deps.logger.error(
            { err: err instanceof Error ? err.message : String(err), userId },
            'credential mark not updated; parked logins survive',
          );
        }),
  };
}

export type MfaModule = ReturnType<typeof createMfaModule>;
export type { MfaService } from './service.js';
export type { LoginMethod, Proof } from './factor.js';
export { RECENT_AUTH_SECONDS } from './service.js';
export { MFA_TOKEN_TTL_SECONDS } from './login-attempts.js';
export { loginMethod, totpEnrolResponse } from './schemas.js';
export type { EnrolledLogin, EnrolMethod } from './enrollment.js';
/** The shape of a WebAuthn registration (`PublicKeyCredential.toJSON()`), for routes that take one. */
export { registrationResponse as webauthnRegistration } from './factors/webauthn/responses.js';
/** The shape of a WebAuthn assertion (`PublicKeyCredential.toJSON()`), for routes that take one. */
export { authenticationResponse as webauthnAssertion } from './factors/webauthn/responses.js';
export type { Passkeys } from './factors/webauthn/passkeys.js';
