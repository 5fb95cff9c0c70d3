import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTestApp } from '../../helpers/app.js';
import { eventually } from '../../helpers/eventually.js';
import { assertProblem } from '../../helpers/problem.js';
import { orgWithOwner, relogin } from '../../helpers/orgs.js';
import { createPat, exchange } from '../../helpers/pats.js';
import { manualClock } from '../mfa/flow-support.js';

/** Exchanges are rate limited per PAT (PAT_EXCHANGES_PER_MINUTE); last_used_at is written at most once a minute. */
const clock = manualClock();
const ctx = await buildTestApp(t, { kv: 'memory', clock, env: { PAT_EXCHANGES_PER_MINUTE: '5' } });
const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Limits Org');

const lastUsed = async (id: string) =>
  (await ctx.db.selectFrom('pats').select('last_used_at').where('id', '=', id).executeTakeFirstOrThrow()).last_used_at;

t.test(
  'the sixth exchange of a PAT within its minute is 429 RATE_LIMITED with Retry-After; another PAT is not affected; the next minute is',
  async (t) => {
    // At the start of a minute, so the window is the whole of it.
    clock.advance(60 - (clock.nowSeconds() % 60));
    const { auth } = await relogin(ctx, owner);
    const a = await createPat(ctx, auth, { org_id: org.id, scopes: ['reports:read'] });
    const b = await createPat(ctx, auth, { org_id: org.id, scopes: ['reports:read'] });
    for (let i = 1; i <= 5; i++) t.equal((await exchange(ctx, a.token)).statusCode, 200, `exchange ${i}`);
    clock.advance(20);
    const over = await exchange(ctx, a.token, { form: true });
    const body = assertProblem(t, over, 429, 'RATE_LIMITED');
    t.equal(body.retry_after, 40, 'until the window ends');
    t.equal(over.headers['retry-after'], '40');
    t.equal((await exchange(ctx, b.token)).statusCode, 200, 'counted per PAT');
    clock.advance(40);
    t.equal((await exchange(ctx, a.token)).statusCode, 200, 'a new minute');
  },
);

t.test('a revoked PAT is INVALID_GRANT even when over its limit (the limit says nothing about the token)', async (t) => {
  clock.advance(60 - (clock.nowSeconds() % 60));
  const { auth } = await relogin(ctx, owner);
  const pat = await createPat(ctx, auth, { org_id: org.id, scopes: ['reports:read'] });
  for (let i = 0; i < 6; i++) await exchange(ctx, pat.token);
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `/v1/me/tokens/${pat.id}`, headers: auth })).statusCode, 204);
  assertProblem(t, await exchange(ctx, pat.token), 400, 'INVALID_GRANT');
});

t.test('last_used_at: written after the first use, not again within the minute, again after it', async (t) => {
  clock.advance(60 - (clock.nowSeconds() % 60));
  const { auth } = await relogin(ctx, owner);
  const pat = await createPat(ctx, auth, { org_id: org.id, scopes: ['reports:read'] });
  t.equal(await lastUsed(pat.id), null, 'never used');
  const firstUse = clock.now().getTime();
  t.equal((await exchange(ctx, pat.token)).statusCode, 200);
  const first = await eventually(() => lastUsed(pat.id), { message: 'last_used_at written' });
  t.equal(first.getTime(), firstUse);
  const list = (await ctx.app.inject({ method: 'GET', url: '/v1/me/tokens', headers: auth })).json().tokens as Array<{
    id: string;
    last_used_at: string | null;
  }>;
  t.equal(list.find((x) => x.id === pat.id)?.last_used_at, new Date(firstUse).toISOString(), 'the list shows it');

  clock.advance(30);
  for (let i = 0; i < 3; i++) t.equal((await exchange(ctx, pat.token)).statusCode, 200);
  await sleep(50);
  t.equal((await lastUsed(pat.id))?.getTime(), firstUse, 'not written again within the minute');

  clock.advance(31);
  const later = clock.now().getTime();
  t.equal((await exchange(ctx, pat.token)).statusCode, 200);
  await eventually(async () => (await lastUsed(pat.id))?.getTime() === later, { message: 'written again after a minute' });
  t.pass('written again after the minute');
});
