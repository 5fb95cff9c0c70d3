import t from 'tap';
import { buildTestApp, loggedInUser } from '../../helpers/app.js';
import { decode } from './forge.js';

t.test('the access token is an ES256 at+jwt whose kid is in the JWKS, with the claims of the design', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await loggedInUser(ctx);
  const { header, claims } = decode(user.tokens.access_token);
  t.equal(header.alg, 'ES256');
  t.equal(header.typ, 'at+jwt');
  t.type(header.kid, 'string');
  const jwks = await ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
  t.equal(jwks.statusCode, 200);
  const kids = jwks.json().keys.map((k: { kid: string }) => k.kid);
  t.ok(kids.includes(header.kid), `kid ${header.kid} is published`);
  const jwk = jwks.json().keys.find((k: { kid: string }) => k.kid === header.kid);
  t.equal(jwk.kty, 'EC');
  t.equal(jwk.crv, 'P-256');
  t.equal(jwk.d, undefined, 'no private part in the JWKS');

  const account = await ctx.db.selectFrom('users').select('id').where('email', '=', user.email).executeTakeFirstOrThrow();
  t.equal(claims.iss, ctx.config.issuer);
  t.equal(claims.aud, ctx.config.audience);
  t.equal(claims.sub, account.id);
  t.equal(claims.sid, user.tokens.session_id);
  t.type(claims.jti, 'string');
  t.ok((claims.jti as string).length > 0);
  t.type(claims.iat, 'number');
  t.type(claims.exp, 'number');
  t.equal(claims.exp! - claims.iat!, 900);
  t.type(claims.nbf, 'number');
  t.ok(claims.nbf! <= claims.iat!, 'nbf not after iat');
  t.ok(Math.abs(claims.iat! - Date.now() / 1000) < 10, 'iat is now');
  t.equal(claims.org_id, null);
  t.same(claims.roles, []);
  t.same(claims.permissions, []);
  t.same(claims.amr, ['pwd']);
  t.equal(claims.aal, 1);

  const second = await loggedInUser(ctx);
  t.not(decode(second.tokens.access_token).claims.jti, claims.jti, 'jti is unique per token');
});

t.test('JWKS and openid-configuration are served with cache headers and the issuer', async (t) => {
  const ctx = await buildTestApp(t);
  const jwks = await ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
  t.equal(jwks.statusCode, 200);
  const maxAge = /max-age=(\d+)/.exec(String(jwks.headers['cache-control']));
  t.ok(maxAge, `cache-control has max-age: ${jwks.headers['cache-control']}`);
  t.ok(Number(maxAge?.[1]) > 0 && Number(maxAge?.[1]) <= 900, 'short enough to pick up a rotation within a token lifetime');
  t.ok(jwks.json().keys.length >= 1);

  const oidc = await ctx.app.inject({ method: 'GET', url: '/.well-known/openid-configuration' });
  t.equal(oidc.statusCode, 200);
  t.match(String(oidc.headers['cache-control']), /max-age=\d+/);
  t.equal(oidc.json().issuer, ctx.config.issuer);
  t.equal(oidc.json().jwks_uri, `${ctx.config.publicUrl}/.well-known/jwks.json`);
  t.ok(String(oidc.json().jwks_uri).endsWith('/.well-known/jwks.json'));
});

t.test("the signing key's private half is stored encrypted, not as plaintext JSON", async (t) => {
  const ctx = await buildTestApp(t);
  const rows = await ctx.db.selectFrom('signing_keys').selectAll().execute();
  t.equal(rows.length, 1, 'one key created at start');
  const row = rows[0];
  t.ok(row.private_enc.startsWith('v1.'), 'keyring ciphertext');
  t.notOk(row.private_enc.trim().startsWith('{'), 'not JSON');
  t.throws(() => JSON.parse(row.private_enc));
  const key = ctx.services.keys.signingKey();
  t.equal(key.kid, row.kid);
  t.notOk(row.private_enc.includes('"d"'), 'no JWK member names visible');
  t.equal((row.public_jwk as Record<string, unknown>).d, undefined, 'public_jwk has no private part');
});
