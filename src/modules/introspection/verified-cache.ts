import type { AccessTokenClaims } from '../../sdk/index.js';

/**
 * Access tokens whose signature was checked, by their exact text, until they expire (by this
 * server's clock, to the second): a resource server introspects the same token on every request it
 * serves, and an ES256 verification costs far more than the rest of the answer. Only the signature and the fixed claims are remembered;
 * revocation is checked on every call. Bounded: the oldest entry goes first.
 */
export function createVerifiedCache(verify: (token: string) => Promise<AccessTokenClaims>, nowSeconds: () => number, max = 10_000) {
  const entries = new Map<string, AccessTokenClaims>();
  return async function verified(token: string): Promise<AccessTokenClaims> {
    const hit = entries.get(token);
    // The verifier allows resource servers some clock skew past exp; the issuer answering about its
    // own tokens does not: at exp the token is over, cached or not.
    if (hit && hit.exp > nowSeconds()) return hit;
    if (hit) entries.delete(token);
    const claims = await verify(token);
    if (claims.exp <= nowSeconds()) throw new Error('expired');
    if (entries.size >= max) entries.delete(entries.keys().next().value!);
    entries.set(token, claims);
    return claims;
  };
}
