import t from 'tap';
import { buildTestApp, loggedInUser } from '../../helpers/app.js';
import { decode, me, refresh } from './forge.js';

t.test('key rotation: JWKS lists both kids, old tokens still verify, new logins carry the new kid', async (t) => {
  const ctx = await buildTestApp(t);
  const before = await loggedInUser(ctx);
  const oldKid = decode(before.tokens.access_token).header.kid!;
  t.equal(ctx.services.keys.signingKey().kid, oldKid);

  await ctx.services.keys.rotate();
  const newKid = ctx.services.keys.signingKey().kid;
  t.not(newKid, oldKid, 'a new signing key');

  const jwks = await ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
  const kids = jwks.json().keys.map((k: { kid: string }) => k.kid);
  t.ok(kids.includes(oldKid), 'the retired key is still published');
  t.ok(kids.includes(newKid), 'the new key is published');
  t.equal(kids.length, 2);

  t.equal((await me(ctx, before.tokens.access_token)).res.statusCode, 200, 'a token signed before rotation still verifies');

  const after = await loggedInUser(ctx);
  t.equal(decode(after.tokens.access_token).header.kid, newKid, 'new logins use the new key');
  t.equal((await me(ctx, after.tokens.access_token)).res.statusCode, 200);
  const rotated = await refresh(ctx, before.tokens.refresh_token);
  t.equal(decode(rotated.body.access_token).header.kid, newKid, 'refreshing an old session signs with the new key');

  const rows = await ctx.db.selectFrom('signing_keys').select(['kid', 'retired_at']).execute();
  t.equal(rows.length, 2);
  t.ok(rows.find((r) => r.kid === oldKid)?.retired_at, 'the old key is marked retired');
  t.equal(rows.find((r) => r.kid === newKid)?.retired_at, null);
});

t.test('another instance on the same database picks up a rotation: it verifies tokens signed with the new kid', async (t) => {
  const ctx = await buildTestApp(t);
  const other = await buildTestApp(t, { shareDb: { db: ctx.db, url: ctx.dbUrl } });
  await ctx.services.keys.rotate();
  const user = await loggedInUser(ctx);
  const kid = decode(user.tokens.access_token).header.kid;
  t.equal(kid, ctx.services.keys.signingKey().kid);
  await new Promise((r) => setTimeout(r, 1100)); // unknown-kid reloads are rate limited to one a second
  t.equal((await me(other, user.tokens.access_token)).res.statusCode, 200, 'the unknown kid makes the other instance reload');
});
