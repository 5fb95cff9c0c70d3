import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  jwtVerify,
  type CryptoKey,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  type KeyObject,
} from 'jose';

/**
 * Verifies Tessera access tokens (RFC 9068 `at+jwt`) the way a resource server should: pinned
 * algorithms, `typ`, issuer, audience, a small clock tolerance and key lookup by `kid`. It is
 * Tessera's own guard too, so the service and the services that trust it cannot drift apart.
 * Imports nothing from Tessera itself: it is the package resource servers install.
 */

export type AccessTokenClaims = {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
  sid: string;
  org_id: string | null;
  roles: string[];
  permissions: string[];
  amr: string[];
  aal: number;
  pat_id?: string;
  client_id?: string;
  /** RFC 8693 actor: present when the user acts in a client org through the agency named here. */
  act?: { org_id: string };
  /** With an org: its plan (starter, professional, enterprise), for per-plan rate limits. */
  plan?: string;
  /** With an org: the version of the roles the token carries (Tessera refuses it once they change). */
  rv?: number;
};

/** Asymmetric algorithms only: a symmetric one would let anyone holding the public key sign. */
export const SUPPORTED_ALGORITHMS = ['ES256', 'EdDSA', 'RS256'] as const;
export type Algorithm = (typeof SUPPORTED_ALGORITHMS)[number];

export type VerificationKey = { alg: string; key: CryptoKey | KeyObject | Uint8Array };
/** Looks a key up by `kid` (Tessera's own key service, or any other source). */
export type KeyResolver = (kid: string) => Promise<VerificationKey | undefined>;

export type VerifierOptions = {
  issuer: string;
  audience: string;
  /** Seconds of clock skew tolerated on exp and nbf (default 5). */
  clockToleranceSeconds?: number;
  /** The time to verify at; defaults to the system clock. */
  now?: () => Date;
  algorithms?: readonly Algorithm[];
} & ({ jwks: JSONWebKeySet } | { jwksUrl: string | URL } | { keys: KeyResolver });

/** Every failure is one error: a caller learns nothing about which check failed. */
export class TokenVerificationError extends Error {
  readonly code = 'INVALID_TOKEN';
  constructor(readonly reason: string) {
    super('The access token is invalid or expired.');
    this.name = 'TokenVerificationError';
  }
}

const REQUIRED_CLAIMS = ['sub', 'sid', 'exp', 'iat', 'nbf', 'jti'];

export function createVerifier(options: VerifierOptions) {
  const algorithms = [...(options.algorithms ?? SUPPORTED_ALGORITHMS)];
  const common = {
    issuer: options.issuer,
    audience: options.audience,
    typ: 'at+jwt',
    clockTolerance: options.clockToleranceSeconds ?? 5,
    requiredClaims: REQUIRED_CLAIMS,
  };
  const now = options.now ?? (() => new Date());

  let getKey: JWTVerifyGetKey | undefined;
  if ('jwks' in options) getKey = createLocalJWKSet(options.jwks);
  else if ('jwksUrl' in options) getKey = createRemoteJWKSet(new URL(options.jwksUrl));

  async function verifyWithResolver(token: string, resolve: KeyResolver) {
    const header = decodeProtectedHeader(token);
    if (!header.kid) throw new TokenVerificationError('no kid');
    const found = await resolve(header.kid);
    // The key decides the algorithm, never the token: a token naming another one is refused.
    if (!found || header.alg !== found.alg || !algorithms.includes(found.alg as Algorithm))
      throw new TokenVerificationError('unknown key or algorithm');
    return jwtVerify(token, found.key, { ...common, algorithms: [found.alg], currentDate: now() });
  }

  return {
    async verify(token: string): Promise<AccessTokenClaims> {
      try {
        const { payload } =
          'keys' in options
            ? await verifyWithResolver(token, options.keys)
            : await jwtVerify(token, getKey!, { ...common, algorithms, currentDate: now() });
        return payload as unknown as AccessTokenClaims;
      } catch (err) {
        if (err instanceof TokenVerificationError) throw err;
        throw new TokenVerificationError((err as Error).message);
      }
    },
  };
}

export type Verifier = ReturnType<typeof createVerifier>;
