import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Clock } from '../../infra/clock.js';
import { createVerifier, type AccessTokenClaims } from '../../sdk/index.js';
import type { KeyService } from './keys.service.js';

/** What a session or a grant asks to be put in an access token; the standard claims are added here. */
export type AccessClaims = Pick<
  AccessTokenClaims,
  'sub' | 'sid' | 'org_id' | 'roles' | 'permissions' | 'amr' | 'aal' | 'pat_id' | 'act' | 'rv' | 'plan'
>;

/**
 * RFC 9068 access tokens: typ at+jwt, signed with the current key. Verification is the SDK's
 * verifier, fed from the key service, so Tessera checks its tokens exactly as resource servers do.
 */
export function createAccessTokens({
  keys,
  clock,
  issuer,
  audience,
  ttl,
}: {
  keys: KeyService;
  clock: Clock;
  issuer: string;
  audience: string;
  ttl: number;
}) {
  const verifier = createVerifier({
    issuer,
    audience,
    now: () => clock.now(),
    keys: async (kid) => {
      const key = await keys.verificationKey(kid);
      return key && { alg: key.alg, key: key.publicKey };
    },
  });
  return {
    ttl,
    async sign(claims: AccessClaims): Promise<{ token: string; exp: number; jti: string }> {
      const key = keys.signingKey();
      const now = clock.nowSeconds();
      const jti = randomUUID();
      const token = await new SignJWT({ ...claims, client_id: 'tessera' })
        .setProtectedHeader({ alg: key.alg, typ: 'at+jwt', kid: key.kid })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(claims.sub)
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + ttl)
        .setJti(jti)
        .sign(key.privateKey!);
      return { token, exp: now + ttl, jti };
    },
    /** Throws the SDK's TokenVerificationError for anything but a good token. */
    verify: (token: string) => verifier.verify(token),
  };
}

export type AccessTokens = ReturnType<typeof createAccessTokens>;
