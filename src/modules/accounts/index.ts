import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/connect.js';
import type { WithTransaction } from '../../infra/db/unit-of-work.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Logger } from '../../infra/logger.js';
import type { Mailer } from '../../infra/mailer.js';
import type { AuditService } from '../audit/index.js';
import type { SessionService } from '../sessions/index.js';
import { createPasswordHasher, type Argon2Params } from './password-hasher.js';
import { createPasswordThrottle, type ThrottlePolicy } from './password-throttle.js';
import { createMailCooldown } from './mail-cooldown.js';
import { accountRoutes } from './routes.js';
import { createAccountService, type BeforeDeletion, type MfaSummaryOf } from './service.js';
import type { AppLinks } from './account-mail.js';
import { createAccountStore } from './store.js';

type Deps = {
  db: Db;
  withTransaction: WithTransaction;
  kv: KeyValueStore;
  mailer: Mailer;
  clock: Clock;
  logger: Logger;
  audit: AuditService;
  sessions: SessionService;
  argon2: Argon2Params;
  throttle: ThrottlePolicy;
  /** Keys for known-device tokens (from the keyring, so every instance accepts every other's). */
  deviceSecrets: Buffer[];
  /** The frontend pages the links in emails open. */
  links: AppLinks;
  /** Mails an hour to one address because someone typed it (signup, resend, forgot). */
  mailPerAddressPerHour: number;
  requireEmailVerification: boolean;
  /** GET /v1/me's `mfa` section: the mfa module builds it (and depends on accounts), so it is asked at request time. */
  mfaSummary: MfaSummaryOf;
  /** After a committed password change, reset or deletion: the mfa module ends logins parked under the old password. */
  credentialChanged: (userId: string) => Promise<void>;
  /** Orgs' say before an account is deleted (it may refuse: the last Owner of an org). */
  beforeDeletion: BeforeDeletion;
};

/** Accounts and their password: signup, verification, profile, password change and reset, deletion. */
export function createAccountsModule(deps: Deps) {
  const hasher = createPasswordHasher(deps.argon2);
  const service = createAccountService({
    store: createAccountStore(deps.db, deps.clock),
    throttle: createPasswordThrottle(deps.kv, deps.throttle, deps.deviceSecrets, deps.clock),
    hasher,
    withTransaction: deps.withTransaction,
    mailer: deps.mailer,
    audit: deps.audit,
    sessions: deps.sessions,
    clock: deps.clock,
    logger: deps.logger,
    cooldown: createMailCooldown(deps.kv, deps.mailPerAddressPerHour),
    links: deps.links,
    requireEmailVerification: deps.requireEmailVerification,
    credentialChanged: deps.credentialChanged,
    beforeDeletion: deps.beforeDeletion,
    mfaSummary: deps.mfaSummary,
  });
  return { service, hasher, routes: accountRoutes(service) };
}

export type { AccountService, LocksSet, PasswordCheck, Profile } from './service.js';
export type { AppLinks } from './account-mail.js';
export { mfaSummary, type MfaSummary } from './schemas.js';
export { DEVICE_TOKEN_MAX_AGE, DEVICE_TOKENS_PER_CLIENT, type ThrottleScope } from './password-throttle.js';
export type { UserRow } from './store.js';
