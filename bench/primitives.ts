/**
 * The primitives that bound the two hot paths, measured with the server's own parameters.
 * Run as its own process (see run.ts) so that UV_THREADPOOL_SIZE can be set before libuv
 * starts its pool; prints one JSON line.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import argon2 from 'argon2';
import { SignJWT, jwtVerify, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK } from 'jose';
import { generateSecret, generateSync, verifySync } from 'otplib';
import { createKeyring, generateKeySpec } from '../src/infra/keyring.js';

// The server's defaults (src/config.ts): ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM.
export const ARGON2 = { type: argon2.argon2id as 2, memoryCost: 19456, timeCost: 2, parallelism: 1 };

export type Primitives = {
  argon2VerifyPerSecond: number;
  argon2InFlight: number;
  argon2MsPerVerify: number;
  es256SignPerSecond: number;
  es256VerifyPerSecond: number;
  totpCheckPerSecond: number;
};

/** argon2id verifications per second with `inFlight` in flight (one per core). */
export async function measureArgon2(seconds: number, inFlight = os.availableParallelism()) {
  const password = 'bench-password-correct-horse-42';
  const hash = await argon2.hash(password, ARGON2);
  if (!(await argon2.verify(hash, password))) throw new Error('argon2 verify failed');
  const started = performance.now();
  const end = started + seconds * 1000;
  let count = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        await argon2.verify(hash, password);
        count++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { perSecond: count / elapsed, msPerVerify: (elapsed * 1000 * inFlight) / count };
}

/** ES256 access tokens as src/modules/tokens/access-token.ts signs them, one at a time. */
export async function measureEs256(signSeconds: number, verifySeconds: number) {
  const issuer = 'http://127.0.0.1:8080';
  const audience = 'tessera';
  const pair = await generateKeyPair('ES256', { extractable: true });
  // The server imports its keys from JWK (keys.service.ts); do the same.
  const privateKey = await importJWK(await exportJWK(pair.privateKey), 'ES256');
  const publicKey = await importJWK(await exportJWK(pair.publicKey), 'ES256');
  const kid = `2025-01-01-${randomUUID().slice(0, 8)}`;
  const claims = {
    sub: randomUUID(),
    sid: randomUUID(),
    org_id: null,
    roles: [] as string[],
    permissions: [] as string[],
    amr: ['pwd'],
    aal: 1,
  };
  const sign = () => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ ...claims, client_id: 'tessera' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(claims.sub)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 900)
      .setJti(randomUUID())
      .sign(privateKey);
  };
  let token = '';
  let signs = 0;
  let started = performance.now();
  let end = started + signSeconds * 1000;
  while (performance.now() < end) {
    token = await sign();
    signs++;
  }
  const signPerSecond = signs / ((performance.now() - started) / 1000);

  let verifies = 0;
  started = performance.now();
  end = started + verifySeconds * 1000;
  while (performance.now() < end) {
    decodeProtectedHeader(token);
    await jwtVerify(token, publicKey, {
      algorithms: ['ES256'],
      issuer,
      audience,
      typ: 'at+jwt',
      clockTolerance: 5,
      requiredClaims: ['sub', 'sid', 'exp', 'iat', 'nbf', 'jti'],
    });
    verifies++;
  }
  return { signPerSecond, verifyPerSecond: verifies / ((performance.now() - started) / 1000) };
}

/**
 * The TOTP factor's own work per check, as src/modules/mfa/factors/totp.ts does it: unseal the
 * secret (AES-256-GCM under the keyring) and verify a code across three time steps.
 */
export function measureTotpCheck(seconds: number) {
  const keyring = createKeyring(generateKeySpec());
  const sealed = keyring.encrypt(generateSecret(), 'mfa_factor:bench');
  const epoch = Math.floor(Date.now() / 1000);
  const token = generateSync({ secret: keyring.decryptString(sealed, 'mfa_factor:bench'), epoch });
  let checks = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  while (performance.now() < end) {
    const secret = keyring.decryptString(sealed, 'mfa_factor:bench');
    if (!verifySync({ secret, token, epoch, epochTolerance: 30 }).valid) throw new Error('totp check failed');
    checks++;
  }
  return checks / ((performance.now() - started) / 1000);
}

export async function measurePrimitives(opts: { argon2Seconds: number; signSeconds: number; verifySeconds: number }): Promise<Primitives> {
  const inFlight = os.availableParallelism();
  const a = await measureArgon2(opts.argon2Seconds, inFlight);
  const e = await measureEs256(opts.signSeconds, opts.verifySeconds);
  const totpCheckPerSecond = measureTotpCheck(1);
  return {
    totpCheckPerSecond,
    argon2VerifyPerSecond: a.perSecond,
    argon2InFlight: inFlight,
    argon2MsPerVerify: a.msPerVerify,
    es256SignPerSecond: e.signPerSecond,
    es256VerifyPerSecond: e.verifyPerSecond,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
  const result = await measurePrimitives({
    argon2Seconds: n('BENCH_ARGON2_SECONDS', 5),
    signSeconds: n('BENCH_SIGN_SECONDS', 3),
    verifySeconds: n('BENCH_VERIFY_SECONDS', 2),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
