import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/connect.js';
import type { WithTransaction } from '../../infra/db/unit-of-work.js';
import type { Keyring } from '../../infra/keyring.js';
import type { Algorithm } from '../../sdk/index.js';
import { createAccessTokens } from './access-token.js';
import { createGrantRegistry } from './grants.js';
import { createKeyService } from './keys.service.js';
import { createSigningKeyStore } from './keys.store.js';
import { tokenRoutes } from './routes.js';
import { createTokenService } from './service.js';

type Deps = {
  db: Db;
  withTransaction: WithTransaction;
  keyring: Keyring;
  clock: Clock;
  alg: Algorithm;
  issuer: string;
  audience: string;
  publicUrl: string;
  accessTokenTtl: number;
};

/** Signing keys, access tokens and the token endpoint, whose grants other modules contribute. */
export async function createTokensModule(deps: Deps) {
  const keys = createKeyService({
    withTransaction: deps.withTransaction,
    store: createSigningKeyStore(deps.db),
    keyring: deps.keyring,
    clock: deps.clock,
    alg: deps.alg,
    accessTokenTtl: deps.accessTokenTtl,
  });
  await keys.init();
  const accessTokens = createAccessTokens({
    keys,
    clock: deps.clock,
    issuer: deps.issuer,
    audience: deps.audience,
    ttl: deps.accessTokenTtl,
  });
  const grants = createGrantRegistry();
  const service = createTokenService({ grants, keys, issuer: deps.issuer, publicUrl: deps.publicUrl });
  return { service, keys, accessTokens, grants, routes: tokenRoutes(service, grants) };
}

export type TokensModule = Awaited<ReturnType<typeof createTokensModule>>;
export type { AccessTokens, AccessClaims } from './access-token.js';
export type { Grant, GrantRegistry } from './grants.js';
export type { KeyService, Rotation } from './keys.service.js';
export { tokenPair, cookieSession, type TokenPair } from './schemas.js';
