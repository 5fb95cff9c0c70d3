import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, decodeProtectedHeader } from 'jose';
import type { Clock } from '../../infra/clock.js';
import type { KeyService } from './keys.service.js';
import { tokenError } from './errors.js';

export type AccessClaims = {
  sub: string;
  sid: string;
  org_id: string | null;
  roles: string[];
  permissions: string[];
  amr: string[];
  aal: number;
  pat_id?: string;
};

export type VerifiedAccess = AccessClaims & { jti: string; exp: number; iat: number };

/** RFC 9068 access tokens: typ at+jwt, pinned algorithm, issuer and audience. */
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
    /** Every failure is the same 401: the caller learns nothing about which check failed. */
    async verify(token: string): Promise<VerifiedAccess> {
      try {
        const header = decodeProtectedHeader(token);
        const key = await keys.verificationKey(header.kid);
        if (!key || header.alg !== key.alg) throw new Error('unknown key or algorithm');
        const { payload } = await jwtVerify(token, key.publicKey, {
          algorithms: [key.alg],
          issuer,
          audience,
          typ: 'at+jwt',
          currentDate: clock.now(),
          clockTolerance: 5,
          requiredClaims: ['sub', 'sid', 'exp', 'iat', 'nbf', 'jti'],
        });
        return payload as unknown as VerifiedAccess;
      } catch {
        throw tokenError('INVALID_TOKEN', 'The access token is invalid or expired.', {
          headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
        });
      }
    },
  };
}

export type AccessTokens = ReturnType<typeof createAccessTokens>;
