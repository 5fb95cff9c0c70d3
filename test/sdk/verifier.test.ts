import t from 'tap';
import { createPublicKey } from 'node:crypto';
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair } from 'jose';
import { createVerifier, TokenVerificationError } from '../../src/sdk/index.js';
import { buildTestApp, loggedInUser } from '../helpers/app.js';
import { decode } from '../modules/tokens/forge.js';

// The SDK as a resource server uses it: Tessera's JWKS, issuer and audience, nothing else.
const ctx = await buildTestApp(t);
const user = await loggedInUser(ctx);
const jwks = (await ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
const { issuer, audience } = ctx.config;

t.test('a JWKS document verifies a login token and yields its claims', async (t) => {
  const verifier = createVerifier({ jwks, issuer, audience });
  const claims = await verifier.verify(user.tokens.access_token);
  t.equal(claims.sid, user.tokens.session_id);
  t.equal(claims.iss, issuer);
  t.same(claims.amr, ['pwd']);
  t.equal(claims.aal, 1);
});

t.test('a JWKS URL verifies too (fetched from the running server)', async (t) => {
  const address = await ctx.app.listen({ port: 0, host: '127.0.0.1' });
  const verifier = createVerifier({ jwksUrl: `${address}/.well-known/jwks.json`, issuer, audience });
  const claims = await verifier.verify(user.tokens.access_token);
  t.equal(claims.sub, decode(user.tokens.access_token).claims.sub);
});

t.test('wrong issuer or audience, forged signatures and confused algorithms are one error', async (t) => {
  const cases: Array<[string, () => Promise<unknown>]> = [
    ['other audience', () => createVerifier({ jwks, issuer, audience: 'someone-else' }).verify(user.tokens.access_token)],
    ['other issuer', () => createVerifier({ jwks, issuer: 'https://evil.example', audience }).verify(user.tokens.access_token)],
  ];
  const verifier = createVerifier({ jwks, issuer, audience });
  const { header, claims } = decode(user.tokens.access_token);
  // HS256 keyed with the public key's bytes: the classic algorithm confusion.
  const jwk = jwks.keys[0];
  const pem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
  const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: header.kid }).sign(Buffer.from(pem));
  cases.push(['HS256 with the public key', () => verifier.verify(hs)]);
  const none = new UnsecuredJWT(claims).encode();
  cases.push(['alg none', () => verifier.verify(none)]);
  const stranger = await generateKeyPair('ES256');
  const foreign = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: header.kid }).sign(stranger.privateKey);
  cases.push(['signed by another key under the same kid', () => verifier.verify(foreign)]);
  const ownKey = { keys: [{ ...(await exportJWK(stranger.publicKey)), kid: 'mine', alg: 'ES256' }] };
  const idToken = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: 'mine' }).sign(stranger.privateKey);
  cases.push(['typ JWT instead of at+jwt', () => createVerifier({ jwks: ownKey, issuer, audience }).verify(idToken)]);
  for (const [why, run] of cases) {
    const err = await run().then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(err instanceof TokenVerificationError, why);
    t.equal((err as TokenVerificationError).code, 'INVALID_TOKEN', why);
  }
});
