import t from 'tap';
import { createPublicKey } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { decodeProtectedHeader } from 'jose';
import { buildTestApp } from '../helpers/app.js';
import { member, orgWithOwner } from '../helpers/orgs.js';
import { ROLE_PRESETS } from '../../src/modules/orgs/presets.js';

/**
 * A verifier Tessera does not use (jsonwebtoken, with the JWKS key converted to PEM) agrees with
 * Tessera about its access tokens: what one accepts the other accepts, claims and all.
 */
t.test('jsonwebtoken verifies Tessera access tokens with the JWKS key as PEM', async (t) => {
  const ctx = await buildTestApp(t);
  const { org } = await orgWithOwner(ctx);
  const dev = await member(ctx, org.id, ['developer']);
  const token = dev.tokens.access_token;

  const jwks = (await ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json() as { keys: Array<Record<string, string>> };
  const { kid, alg } = decodeProtectedHeader(token);
  const jwk = jwks.keys.find((k) => k.kid === kid);
  t.ok(jwk, 'the token names a published key');
  const pem = createPublicKey({ key: jwk as never, format: 'jwk' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
  t.match(pem, /^-----BEGIN PUBLIC KEY-----/);

  const claims = jwt.verify(token, pem, {
    algorithms: [alg as jwt.Algorithm],
    issuer: ctx.config.issuer,
    audience: ctx.config.audience,
  }) as jwt.JwtPayload;
  t.equal(claims.sub, dev.id);
  t.equal(claims.org_id, org.id);
  t.same(claims.roles, ['developer']);
  t.same(claims.permissions, [...ROLE_PRESETS.compliance.developer.permissions].sort(), "the Developer role's permissions");
  t.equal(claims.exp! - claims.iat!, 900, '15 minutes');
  t.ok(claims.nbf! <= Math.floor(Date.now() / 1000) + 1, 'not-before is now, not ahead (jsonwebtoken allows no skew by default)');

  // And it refuses what Tessera refuses.
  const [h, p, s] = token.split('.');
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, roles: ['owner'] })).toString('base64url')}.${s}`;
  t.throws(() => jwt.verify(forged, pem, { algorithms: ['ES256'] }), /invalid signature/);
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${p}.`;
  t.throws(() => jwt.verify(unsigned, pem, { algorithms: ['ES256'] }), /jwt signature is required|invalid algorithm/);
  t.throws(() => jwt.verify(token, pem, { algorithms: ['ES256'], audience: 'someone-else' }), /audience invalid/);
});
