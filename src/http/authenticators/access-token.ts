import type { AccessTokenClaims } from '../../sdk/index.js';
import { authError } from '../../shared/common-errors.js';
import type { Principal } from '../principal.js';

export type AccessTokenChecks = {
  /** Signature and claims (the SDK verifier); throws when the token is not good. */
  verify(token: string): Promise<AccessTokenClaims>;
  /** Whether the token has been revoked since it was issued: its session ('session'), or its org roles changed ('stale'). */
  revocation(claims: AccessTokenClaims): Promise<'session' | 'stale' | null>;
};

/** What bearer and cookie authentication share: a verified, unrevoked access token makes a principal. */
export async function principalFromAccessToken(token: string, via: Principal['via'], checks: AccessTokenChecks): Promise<Principal> {
  let claims: AccessTokenClaims;
  try {
    claims = await checks.verify(token);
  } catch {
    throw authError('INVALID_TOKEN', 'The access token is invalid or expired.');
  }
  const revoked = await checks.revocation(claims);
  if (revoked === 'session') throw authError('SESSION_REVOKED', 'This session has been signed out.');
  // The client keeps its session: a refresh gets a token with the roles as they are now.
  if (revoked === 'stale') throw authError('TOKEN_STALE', 'Your roles in this organization changed; refresh the access token.');
  return { userId: claims.sub, sessionId: claims.sid, orgId: claims.org_id ?? null, permissions: claims.permissions ?? [], claims, via };
}
