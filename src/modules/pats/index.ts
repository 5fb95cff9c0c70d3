import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/connect.js';
import type { Tx, WithTransaction } from '../../infra/db/unit-of-work.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Logger } from '../../infra/logger.js';
import type { AuditService } from '../audit/index.js';
import type { OrgsModule } from '../orgs/index.js';
import type { SessionService } from '../sessions/index.js';
import type { TokensModule } from '../tokens/index.js';
import { patExchangeGrant } from './grant.js';
import { patRoutes } from './routes.js';
import { createPatService } from './service.js';
import { createPatStore } from './store.js';

type Deps = {
  db: Db;
  withTransaction: WithTransaction;
  kv: KeyValueStore;
  clock: Clock;
  logger: Logger;
  audit: AuditService;
  sessions: SessionService;
  tokens: Pick<TokensModule, 'accessTokens' | 'grants'>;
  orgs: Pick<Awaited<OrgsModule>, 'access' | 'guard' | 'lockShared'>;
  /** Accounts' row lock (accounts owns users): creation and revocation on removal or deletion take it first. */
  lockAccount: (userId: string, tx: Tx) => Promise<boolean>;
  /** PAT_EXCHANGES_PER_MINUTE: token exchanges a minute per token. */
  exchangesPerMinute: number;
  /** PAT_LOOKUP_MISSES_PER_MINUTE: unknown secrets a minute per client address. */
  lookupMissesPerMinute: number;
};

/**
 * Personal access tokens: `/v1/me/tokens`, an org's `/v1/orgs/{org}/tokens`, the RFC 8693
 * token-exchange grant (registered on the token endpoint), and service credentials: `credential`
 * for `kit.requireService`, `lookup` for introspection.
 */
export function createPatsModule(deps: Deps) {
  const service = createPatService({
    store: createPatStore(deps.db),
    withTransaction: deps.withTransaction,
    kv: deps.kv,
    clock: deps.clock,
    logger: deps.logger,
    audit: deps.audit,
    sessions: deps.sessions,
    accessTokens: deps.tokens.accessTokens,
    orgs: {
      resolve: (userId, orgId, tx) => deps.orgs.access.resolve(userId, orgId, tx),
      grant: (input) => deps.orgs.access.serviceGrant(input),
      lockShared: deps.orgs.lockShared,
    },
    lockAccount: deps.lockAccount,
    exchangesPerMinute: deps.exchangesPerMinute,
    lookupMissesPerMinute: deps.lookupMissesPerMinute,
  });
  deps.tokens.grants.register(patExchangeGrant(service));
  return {
    service,
    /** A live PAT as a service credential (scopes in force now), or null: what `kit.requireService` checks. */
    credential: (secret: string, ip: string) => service.credential(secret, ip),
    /** A live PAT as introspection shows it, or null. */
    lookup: (secret: string) => service.lookup(secret),
    routes: patRoutes(service, deps.orgs.guard),
  };
}

export type PatsModule = ReturnType<typeof createPatsModule>;
export type { PatService } from './service.js';
export type { PatInfo } from './use.js';
export type { ServiceCredential, ServiceCredentialCheck } from '../../http/service-credential.js';
export { PAT_TOKEN_TYPE, ACCESS_TOKEN_TYPE } from './schemas.js';
export { parsePat, looksLikePat, PAT_PREFIX } from './format.js';
export { issueOperatorToken } from './operator.js';
