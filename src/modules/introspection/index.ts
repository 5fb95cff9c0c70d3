import type { Clock } from '../../infra/clock.js';
import type { AccessTokenClaims } from '../../sdk/index.js';
import { introspectionRoutes } from './routes.js';
import { createIntrospection, type PatInfo } from './service.js';
import { createVerifiedCache } from './verified-cache.js';

/**
 * Token introspection (RFC 7662) and authorization checks for services. A leaf: it reads tokens,
 * sessions, PATs and orgs through the functions it is given, and nothing depends on it.
 */
export function createIntrospectionModule(deps: {
  clock: Clock;
  verify: (token: string) => Promise<AccessTokenClaims>;
  revocation: (claims: AccessTokenClaims) => Promise<'session' | 'stale' | null>;
  pat: (secret: string) => Promise<PatInfo | null>;
  permissionsIn: (userId: string, orgId: string) => Promise<string[] | null>;
}) {
  const service = createIntrospection({
    verified: createVerifiedCache(deps.verify, () => deps.clock.nowSeconds()),
    revocation: deps.revocation,
    pat: deps.pat,
    permissionsIn: deps.permissionsIn,
  });
  return { service, routes: introspectionRoutes(service), discovery: DISCOVERY };
}

/** What the discovery document says about introspection (RFC 8414 §2). */
const DISCOVERY = {
  introspection_endpoint: '/v1/introspect',
  // A PAT with tokens:introspect, as the password of HTTP Basic or as a Bearer token (not a registered method name).
  introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'bearer'],
};
