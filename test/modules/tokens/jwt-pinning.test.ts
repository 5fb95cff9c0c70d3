import t from 'tap';
import type { Test } from 'tap';
import { createPublicKey } from 'node:crypto';
import { SignJWT, UnsecuredJWT, generateKeyPair, type JWTPayload } from 'jose';
import { buildTestApp, loggedInUser } from '../../helpers/app.js';
import { decode, me, signWithAppKey } from './forge.js';

// One app for the file: every case presents a forged token to GET /v1/me and expects 401.
const ctx = await buildTestApp(t);
const user = await loggedInUser(ctx);
const real = decode(user.tokens.access_token);
const claims = real.claims as JWTPayload & Record<string, unknown>;
const kid = real.header.kid!;
const now = () => Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

async function rejected(t: Test, token: string, why: string) {
  const { res, body } = await me(ctx, token);
  t.equal(res.statusCode, 401, why);
  t.equal(body.code, 'INVALID_TOKEN');
  t.match(res.headers['content-type'], /application\/problem\+json/);
  t.match(String(res.headers['www-authenticate']), /invalid_token/);
}

t.test('control: the real token, and the same claims re-signed with the app key, are accepted', async (t) => {
  t.equal((await me(ctx, user.tokens.access_token)).res.statusCode, 200);
  const resigned = await signWithAppKey(ctx, claims);
  t.equal((await me(ctx, resigned)).res.statusCode, 200, 'the forging helper produces valid tokens');
});

t.test('alg none is rejected', async (t) => {
  const plain = new UnsecuredJWT(claims).encode();
  await rejected(t, plain, 'jose UnsecuredJWT');
  const withKid = `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claims)}.`;
  await rejected(t, withKid, 'alg none with the real kid and typ');
  const noneSig = `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claims)}.${user.tokens.access_token.split('.')[2]}`;
  await rejected(t, noneSig, 'alg none carrying the original signature');
});

t.test('HS256 signed with the public key as the HMAC secret is rejected', async (t) => {
  const jwks = (await ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
  const jwk = jwks.keys.find((k: { kid: string }) => k.kid === kid);
  const { kid: _k, alg: _a, use: _u, ...bareJwk } = jwk;
  const pem = createPublicKey({ key: bareJwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
  const secrets = [JSON.stringify(jwk), JSON.stringify(bareJwk), pem, pem.trim()];
  for (const secret of secrets) {
    const token = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid }).sign(new TextEncoder().encode(secret));
    await rejected(t, token, `HS256 with secret ${secret.slice(0, 30)}…`);
  }
});

t.test('a token signed by another ES256 key under the same kid is rejected', async (t) => {
  const { privateKey } = await generateKeyPair('ES256');
  const token = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(privateKey);
  await rejected(t, token, 'foreign key, real kid');
});

t.test("an unknown kid is rejected, even when the signature is the app's own", async (t) => {
  await rejected(t, await signWithAppKey(ctx, claims, { kid: 'no-such-kid' }), 'unknown kid');
  const { privateKey } = await generateKeyPair('ES256');
  const token = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'attacker-kid' }).sign(privateKey);
  await rejected(t, token, 'unknown kid, foreign key');
  const noKid = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
    .sign(ctx.services.keys.signingKey().privateKey!);
  await rejected(t, noKid, 'no kid at all');
});

t.test('a wrong issuer is rejected', async (t) => {
  await rejected(t, await signWithAppKey(ctx, { ...claims, iss: 'https://evil.example.com' }), 'wrong iss');
  const { iss: _i, ...noIss } = claims;
  await rejected(t, await signWithAppKey(ctx, noIss), 'missing iss');
});

t.test('a wrong audience is rejected', async (t) => {
  await rejected(t, await signWithAppKey(ctx, { ...claims, aud: 'some-other-service' }), 'wrong aud');
  const { aud: _a, ...noAud } = claims;
  await rejected(t, await signWithAppKey(ctx, noAud), 'missing aud');
});

t.test('an expired token is rejected', async (t) => {
  const iat = now() - 3600;
  await rejected(t, await signWithAppKey(ctx, { ...claims, iat, nbf: iat, exp: now() - 60 }), 'exp a minute ago');
  const { exp: _e, ...noExp } = claims;
  await rejected(t, await signWithAppKey(ctx, noExp), 'no exp');
});

t.test('a token not yet valid (nbf in the future) is rejected', async (t) => {
  await rejected(t, await signWithAppKey(ctx, { ...claims, nbf: now() + 120 }), 'nbf in two minutes');
});

t.test('typ JWT instead of at+jwt is rejected', async (t) => {
  await rejected(t, await signWithAppKey(ctx, claims, { typ: 'JWT' }), 'typ JWT');
  await rejected(t, await signWithAppKey(ctx, claims, { typ: 'application/jwt' }), 'typ application/jwt');
  const key = ctx.services.keys.signingKey();
  const noTyp = await new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid }).sign(key.privateKey!);
  await rejected(t, noTyp, 'no typ');
});

t.test('a valid token with a tampered payload is rejected', async (t) => {
  const [h, , s] = user.tokens.access_token.split('.');
  const other = await loggedInUser(ctx);
  const tampered = `${h}.${b64({ ...claims, sub: decode(other.tokens.access_token).claims.sub })}.${s}`;
  await rejected(t, tampered, 'sub swapped');
  const elevated = `${h}.${b64({ ...claims, roles: ['owner'], permissions: ['org:manage'], aal: 2 })}.${s}`;
  await rejected(t, elevated, 'roles added');
  // Flip one bit in the middle of the signature: the last base64url characters carry padding
  // bits, so rewriting them can leave the signature bytes as they were (about 1 run in 256).
  const signature = Buffer.from(s, 'base64url');
  signature[20] ^= 0x01;
  await rejected(t, `${h}.${user.tokens.access_token.split('.')[1]}.${signature.toString('base64url')}`, 'signature bytes changed');
});
