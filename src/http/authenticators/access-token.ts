import type { AccessTokenClaims } from '../../sdk/index.js';
import { authError } from '../../shared/common-errors.js';
import type { Principal } from '../principal.js';

export type AccessTokenChecks = {
  /** Signature and claims (the SDK verifier); throws when the token is not good. */
  verify(token: string): Promise<AccessTokenClaims>;
  /** Whether the session behind the token has been revoked since it was issued. */
  isRevoked(claims: AccessTokenClaims): Promise<boolean>;
};

/** What bearer and cookie authentication share: a verified, unrevoked access token makes a principal. */
export async function principalFromAccessToken(token: string, via: Principal['via'], checks: AccessTokenChecks): Promise<Principal> {
  let claims: AccessTokenClaims;
  try {
    claims = await checks.verify(token);
  } catch {
    throw authError('INVALID_TOKEN', 'The access token is invalid or expired.');
  }
  if (await checks.isRevoked(claims)) throw authError('SESSION_REVOKED', 'This session has been signed out.');
  return { userId: claims.sub, sessionId: claims.sid, orgId: claims.org_id ?? null, permissions: claims.permissions ?? [], claims, via };
}
