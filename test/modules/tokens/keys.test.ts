import t from 'tap';
import { offsetClock } from '../../../src/infra/clock.js';
import { KEY_ACTIVATION_DELAY_SECONDS } from '../../../src/modules/tokens/keys.service.js';
import { buildTestApp, loggedInUser, type TestApp } from '../../helpers/app.js';
import { decode, me, refresh } from './forge.js';

const jwksKids = async (ctx: TestApp) => {
  const res = await ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
  return (res.json().keys as Array<{ kid: string }>).map((k) => k.kid);
};

t.test(
  'the JWKS may be cached for max-age + stale-while-revalidate; a new key waits longer than that and a minute of reload',
  async (t) => {
    const ctx = await buildTestApp(t);
    const res = await ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    const cc = String(res.headers['cache-control']);
    const maxAge = Number(/max-age=(\d+)/.exec(cc)?.[1]);
    const swr = Number(/stale-while-revalidate=(\d+)/.exec(cc)?.[1]);
    t.equal(maxAge, 300);
    t.equal(swr, 60);
    t.ok(KEY_ACTIVATION_DELAY_SECONDS >= maxAge + swr + 60, `activation delay ${KEY_ACTIVATION_DELAY_SECONDS} s`);
  },
);

t.test('rotation publishes the next key first and switches to it only at its activation; old tokens keep verifying', async (t) => {
  const clock = offsetClock();
  const ctx = await buildTestApp(t, { clock });
  const before = await loggedInUser(ctx);
  const oldKid = decode(before.tokens.access_token).header.kid!;
  t.equal(ctx.services.keys.signingKey().kid, oldKid);

  const rotation = await ctx.services.keys.rotate();
  const newKid = rotation.kid;
  t.not(newKid, oldKid, 'a new key');
  t.ok(rotation.created);
  const delay = (rotation.activatesAt.getTime() - clock.now().getTime()) / 1000;
  t.ok(Math.abs(delay - KEY_ACTIVATION_DELAY_SECONDS) < 5, `it activates in ${KEY_ACTIVATION_DELAY_SECONDS} s (${delay})`);

  t.same((await jwksKids(ctx)).sort(), [oldKid, newKid].sort(), 'the JWKS publishes both keys at once');
  t.equal(ctx.services.keys.signingKey().kid, oldKid, 'the old key still signs');
  const during = await loggedInUser(ctx);
  t.equal(decode(during.tokens.access_token).header.kid, oldKid, 'a login right after rotation carries the old kid');
  const renewed = await refresh(ctx, before.tokens.refresh_token);
  t.equal(decode(renewed.body.access_token).header.kid, oldKid, 'so does a refresh');

  const again = await ctx.services.keys.rotate();
  t.same({ kid: again.kid, created: again.created }, { kid: newKid, created: false }, 'rotating again while a key is pending returns it');
  t.equal((await jwksKids(ctx)).length, 2, 'and adds no third key');

  clock.advance((KEY_ACTIVATION_DELAY_SECONDS + 1) * 1000);
  await ctx.services.keys.reload();
  t.equal(ctx.services.keys.signingKey().kid, newKid, 'after activation the new key signs');
  const after = await loggedInUser(ctx);
  t.equal(decode(after.tokens.access_token).header.kid, newKid, 'new logins carry the new kid');
  t.equal((await me(ctx, after.tokens.access_token)).res.statusCode, 200);
  const rotated = await refresh(ctx, renewed.body.refresh_token);
  t.equal(decode(rotated.body.access_token).header.kid, newKid, 'refreshing an old session signs with the new key');
  t.equal((await me(ctx, during.tokens.access_token)).res.statusCode, 200, 'a token the old key signed still verifies');
  t.same((await jwksKids(ctx)).sort(), [oldKid, newKid].sort(), 'the retired key stays published while its tokens live');

  const rows = await ctx.db.selectFrom('signing_keys').select(['kid', 'activates_at', 'retired_at']).execute();
  t.equal(rows.length, 2);
  t.same(rows.find((r) => r.kid === oldKid)?.retired_at, rotation.activatesAt, 'the old key retired at the moment the new one activated');
  t.equal(rows.find((r) => r.kid === newKid)?.retired_at, null);

  clock.advance((ctx.config.accessTokenTtl + 61) * 1000);
  await ctx.services.keys.reload();
  t.same(await jwksKids(ctx), [newKid], 'once its last token has expired the old key leaves the JWKS');
});

t.test('keys rotate --now (a compromised key): the new key signs at once', async (t) => {
  const clock = offsetClock();
  const ctx = await buildTestApp(t, { clock });
  const oldKid = ctx.services.keys.signingKey().kid;
  await ctx.services.keys.rotate();
  const emergency = await ctx.services.keys.rotate({ now: true });
  t.ok(emergency.created);
  t.not(emergency.kid, oldKid);
  t.equal(ctx.services.keys.signingKey().kid, emergency.kid, 'signing with the new key immediately');
  const user = await loggedInUser(ctx);
  t.equal(decode(user.tokens.access_token).header.kid, emergency.kid);
  clock.advance((KEY_ACTIVATION_DELAY_SECONDS + 1) * 1000);
  await ctx.services.keys.reload();
  t.equal(ctx.services.keys.signingKey().kid, emergency.kid, 'the key that was pending before the emergency never signs');
});

t.test('another instance on the same database publishes a pending key, switches at activation and verifies the new kid', async (t) => {
  const clock = offsetClock();
  const ctx = await buildTestApp(t, { clock });
  const other = await buildTestApp(t, { clock, shareDb: { db: ctx.db, url: ctx.dbUrl } });
  const oldKid = ctx.services.keys.signingKey().kid;
  t.equal(other.services.keys.signingKey().kid, oldKid, 'one key for both');

  const { kid: newKid } = await ctx.services.keys.rotate();
  await other.services.keys.reload(); // what its periodic reload does within a minute
  t.ok((await jwksKids(other)).includes(newKid), 'the other instance publishes the pending key');
  t.equal(other.services.keys.signingKey().kid, oldKid, 'and does not sign with it yet');

  clock.advance((KEY_ACTIVATION_DELAY_SECONDS + 1) * 1000);
  t.equal(other.services.keys.signingKey().kid, newKid, 'it switches at activation without another reload');
  await ctx.services.keys.reload();
  const user = await loggedInUser(ctx);
  t.equal(decode(user.tokens.access_token).header.kid, newKid);
  t.equal((await me(other, user.tokens.access_token)).res.statusCode, 200, 'the other instance verifies the new kid');
});

t.test('another instance that has not seen an emergency rotation reloads when it meets the unknown kid', async (t) => {
  const ctx = await buildTestApp(t);
  const other = await buildTestApp(t, { shareDb: { db: ctx.db, url: ctx.dbUrl } });
  await ctx.services.keys.rotate({ now: true });
  const user = await loggedInUser(ctx);
  const kid = decode(user.tokens.access_token).header.kid;
  t.equal(kid, ctx.services.keys.signingKey().kid);
  await new Promise((r) => setTimeout(r, 1100)); // unknown-kid reloads are rate limited to one a second
  t.equal((await me(other, user.tokens.access_token)).res.statusCode, 200, 'the unknown kid makes the other instance reload');
});
