import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/connect.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Logger } from '../../infra/logger.js';
import type { AuditService } from '../audit/index.js';
import type { TokensModule } from '../tokens/index.js';
import { refreshGrant } from './refresh-grant.js';
import { createRevocations } from './revocations.js';
import { sessionRoutes } from './routes.js';
import { createSessionService, type OrgGrants } from './service.js';
import { createSessionStore } from './store.js';

type Deps = {
  db: Db;
  kv: KeyValueStore;
  clock: Clock;
  logger: Logger;
  audit: AuditService;
  tokens: Pick<TokensModule, 'accessTokens' | 'grants'>;
  /** The account's email for the sessions table; accounts owns it (and depends on sessions). */
  userEmail: (userId: string) => Promise<string>;
  /** The org claims of a session's tokens; orgs owns them (and depends on sessions). */
  orgGrants: OrgGrants;
  accessTokenTtl: number;
  refreshTokenTtl: number;
  reuseGraceSeconds: number;
};

/** Login sessions, their rotating refresh tokens (the refresh_token grant) and revocation. */
export async function createSessionsModule(deps: Deps) {
  const store = createSessionStore(deps.db);
  const revocations = createRevocations({
    kv: deps.kv,
    clock: deps.clock,
    logger: deps.logger,
    accessTokenTtl: deps.accessTokenTtl,
    liveSessionRevocations: (now) => store.liveSessionRevocations(now),
  });
  // Postgres (the revocations table) is the source of truth: whatever the KV store lost is
  // restored on start and reconnect.
  await revocations.reload();
  revocations.watchReconnects();
  const service = createSessionService({
    store,
    accessTokens: deps.tokens.accessTokens,
    revocations,
    audit: deps.audit,
    clock: deps.clock,
    orgGrants: deps.orgGrants,
    refreshTokenTtl: deps.refreshTokenTtl,
    reuseGraceSeconds: deps.reuseGraceSeconds,
  });
  deps.tokens.grants.register(refreshGrant(service));
  return { service, revocations, routes: sessionRoutes(service, deps.userEmail) };
}

export type { SessionService, StartSessionInput, TokenPair, OrgGrant, OrgGrants } from './service.js';
export type { RevokedPat, TokenRevocation } from './token-revocation.js';
export { orgClaims } from './service.js';
export { nextNotBefore } from './revocations.js';
export { sessionRow } from './schemas.js';
