import type { Clock } from '../../../infra/clock.js';
import type { KeyValueStore } from '../../../infra/kv/kv.js';
import type { Keyring } from '../../../infra/keyring.js';
import type { Logger } from '../../../infra/logger.js';
import type { AuditService } from '../../audit/index.js';
import type { FactorLifecycle } from '../lifecycle.js';
import type { MfaStore } from '../store.js';

/** What every factor file is given (each adds its own settings beside these). */
export type FactorDeps = {
  store: MfaStore;
  lifecycle: FactorLifecycle;
  kv: KeyValueStore;
  keyring: Keyring;
  audit: AuditService;
  clock: Clock;
  logger: Logger;
  /** The account's email (an authenticator app's label, a WebAuthn user name). */
  userEmail: (userId: string) => Promise<string>;
};
