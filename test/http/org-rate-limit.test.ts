import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { buildTestApp, loggedInUser, redisUrl, type TestApp } from '../helpers/app.js';
import { assertProblem } from '../helpers/problem.js';
import { bearer, call, claimsOf, member, orgWithOwner, refresh, type Auth } from '../helpers/orgs.js';
import { createRedisKv } from '../../src/infra/kv/redis.js';
import { loadConfig } from '../../src/config.js';
import { limitFor } from '../../src/http/org-rate-limit.js';
import type { Principal } from '../../src/http/principal.js';

/**
 * Per-plan rate limits of authenticated requests (issue 9): counted per org (the token's org, at
 * its plan's limit) or per user (a token without an org), per minute, one budget across every
 * route and every instance (the counters are in Redis). Answers carry RateLimit-Limit,
 * RateLimit-Remaining and RateLimit-Reset; past the limit 429 RATE_LIMITED with Retry-After.
 * Unauthenticated routes keep their per-IP limit and are not counted here.
 */

const LIMITS = {
  RATE_LIMIT_STARTER_PER_MINUTE: '100',
  RATE_LIMIT_PROFESSIONAL_PER_MINUTE: '1000',
  RATE_LIMIT_ENTERPRISE_PER_MINUTE: '10000',
  RATE_LIMIT_USER_PER_MINUTE: '20',
};

// The clock stands still 17.5 s into a minute (the limiter's windows are whole minutes on the
// clock): every answer's reset is 43 s, and the budget cannot roll over during a test.
const INTO_WINDOW_MS = 17_500;
const RESET = 43;
function pinnedClock() {
  let ms = Math.floor(Date.now() / 60_000) * 60_000 + INTO_WINDOW_MS;
  if (ms > Date.now()) ms -= 60_000;
  return {
    now: () => new Date(ms),
    nowSeconds: () => Math.floor(ms / 1000),
    advance(byMs: number) {
      ms += byMs;
    },
  };
}

type Res = Awaited<ReturnType<TestApp['app']['inject']>>;
const header = (res: Res, name: string) => (res.headers[name] === undefined ? undefined : String(res.headers[name]));
const rateHeaders = (res: Res) => ({
  limit: header(res, 'ratelimit-limit'),
  remaining: header(res, 'ratelimit-remaining'),
  reset: header(res, 'ratelimit-reset'),
});

function assertLimited(t: Test, res: Res, limit: number, label: string) {
  const body = assertProblem(t, res, 429, 'RATE_LIMITED', label);
  t.equal(body.retry_after, RESET, `${label}: retry_after is the time to the window's end`);
  t.equal(header(res, 'retry-after'), String(RESET), `${label}: Retry-After`);
  t.same(rateHeaders(res), { limit: String(limit), remaining: '0', reset: String(RESET) }, `${label}: RateLimit-* headers`);
}

t.test('config: the per-plan limits default to 100, 1,000 and 10,000 a minute, 600 for a user, and are configurable', async (t) => {
  t.same(loadConfig({}).rateLimit, {
    enabled: true,
    perPlanPerMinute: { starter: 100, professional: 1000, enterprise: 10_000 },
    userPerMinute: 600,
  });
  const c = loadConfig({ RATE_LIMIT_STARTER_PER_MINUTE: '5', RATE_LIMIT_ENABLED: 'false', RATE_LIMIT_USER_PER_MINUTE: '7' });
  t.same(c.rateLimit, { enabled: false, perPlanPerMinute: { starter: 5, professional: 1000, enterprise: 10_000 }, userPerMinute: 7 });
  t.throws(() => loadConfig({ RATE_LIMIT_PROFESSIONAL_PER_MINUTE: '0' }), /RATE_LIMIT_PROFESSIONAL_PER_MINUTE/);
});

t.test('the limit follows the token: its plan with an org (starter when it names none it knows), the user limit without', async (t) => {
  const settings = { perPlan: { starter: 1, professional: 2, enterprise: 3 }, perUser: 4 };
  const principal = (orgId: string | null, plan?: string) => ({ userId: 'u', orgId, claims: { plan } }) as unknown as Principal;
  t.equal(limitFor(principal('o', 'starter'), settings), 1);
  t.equal(limitFor(principal('o', 'professional'), settings), 2);
  t.equal(limitFor(principal('o', 'enterprise'), settings), 3);
  t.equal(limitFor(principal('o'), settings), 1, 'a token from before the plan claim');
  t.equal(limitFor(principal('o', 'toString'), settings), 1, 'no inherited property is a plan');
  t.equal(limitFor(principal(null), settings), 4);
  t.equal(limitFor(principal(null, 'enterprise'), settings), 4, 'no org: the user limit');
});

t.test('RATE_LIMIT_ENABLED=false: authenticated requests are neither counted nor refused', async (t) => {
  const ctx = await buildTestApp(t, { env: { ...LIMITS, RATE_LIMIT_USER_PER_MINUTE: '1', RATE_LIMIT_ENABLED: 'false' } });
  const user = await loggedInUser(ctx);
  for (let i = 0; i < 3; i++) {
    const res = await call(ctx, 'GET', '/v1/me', user.auth);
    t.equal(res.statusCode, 200, `request ${i + 1}`);
    t.equal(header(res, 'ratelimit-limit'), undefined, 'no RateLimit headers');
  }
});

if (!redisUrl()) {
  t.test('per-org limits across two instances', { skip: 'no Redis' }, async () => undefined);
} else {
  // Two instances on one database and one Redis (one key prefix), as in production.
  const prefix = `t${randomBytes(4).toString('hex')}:`;
  const kvA = await createRedisKv(redisUrl()!, undefined, prefix);
  const kvB = await createRedisKv(redisUrl()!, undefined, prefix);
  t.teardown(async () => {
    await Promise.all([kvA.close(), kvB.close()]);
  });
  const clock = pinnedClock();
  const a = await buildTestApp(t, { kv: kvA, clock, env: LIMITS });
  const b = await buildTestApp(t, { kv: kvB, clock, env: LIMITS, shareDb: { db: a.db, url: a.dbUrl } });
  const instances = [a, b] as const;

  /** A starter org with its Owner and a member, both with tokens for the org. */
  async function starterOrg(t: Test, name: string) {
    const { owner, org } = await orgWithOwner(a, 'compliance', name);
    const dev = await member(a, org.id, ['developer'], 'Dev Eloper');
    t.equal(claimsOf(owner.tokens.access_token).plan, 'starter', 'the token carries the plan');
    return { org, owner, dev };
  }

  // The starter org of the first test: its budget is spent for this window (the later tests use it).
  const spent: { orgId?: string; owner?: Auth } = {};

  t.test('a starter org: 100 requests a minute across two instances, users and routes; the 101st is 429', async (t) => {
    const { org, owner, dev } = await starterOrg(t, 'Starter Org');
    // Alternating instances, the org's two people and two routes: one budget for all of them.
    const nth = (i: number) => {
      const ctx = instances[i % 2]!;
      const who = i % 4 < 2 ? owner.auth : dev.auth;
      return i % 3 === 0 ? call(ctx, 'GET', `/v1/orgs/${org.id}`, who) : call(ctx, 'GET', '/v1/me', who);
    };
    const seen: Array<ReturnType<typeof rateHeaders>> = [];
    for (let i = 0; i < 100; i++) {
      const res = await nth(i);
      if (res.statusCode !== 200) {
        t.fail(`request ${i + 1} answered ${res.statusCode}: ${res.body}`);
        return;
      }
      seen.push(rateHeaders(res));
    }
    t.same(
      seen,
      Array.from({ length: 100 }, (_, i) => ({ limit: '100', remaining: String(99 - i), reset: String(RESET) })),
      'every answer says the limit, what remains (counting down to 0) and the seconds to the end of the window',
    );
    assertLimited(t, await nth(100), 100, 'the 101st request');
    assertLimited(t, await call(b, 'GET', `/v1/orgs/${org.id}`, dev.auth), 100, 'the 102nd, on the other instance and route');
    spent.orgId = org.id;
    spent.owner = owner.auth;
  });

  t.test('a professional org gets 1,000 (its plan reaches the limiter with the next token); the 1,001st is 429', async (t) => {
    const { org, owner } = await starterOrg(t, 'Professional Org');
    await a.db.updateTable('orgs').set({ plan: 'professional' }).where('id', '=', org.id).execute();
    for (const ctx of instances) ctx.services.orgAccess.forgetOrg(org.id);
    const next = await refresh(b, owner.tokens.refresh_token);
    t.equal(next.statusCode, 200, next.body);
    const token = next.json().access_token as string;
    t.equal(claimsOf(token).plan, 'professional', 'the refreshed token carries the new plan');
    const auth = bearer(token);

    const remaining: number[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => call(instances[i % 2]!, 'GET', '/v1/me', auth)));
      for (const res of answers) {
        if (res.statusCode !== 200 || header(res, 'ratelimit-limit') !== '1000') {
          t.fail(`answered ${res.statusCode} with limit ${header(res, 'ratelimit-limit')}: ${res.body}`);
          return;
        }
        remaining.push(Number(header(res, 'ratelimit-remaining')));
      }
    }
    t.same(
      remaining.sort((x, y) => x - y),
      Array.from({ length: 1000 }, (_, i) => i),
      '1,000 answers, each with its own remaining count',
    );
    assertLimited(t, await call(a, 'GET', '/v1/me', auth), 1000, 'the 1,001st request');
  });

  t.test('budgets are separate: another org, and a token without an org is counted per user', async (t) => {
    if (!spent.orgId || !spent.owner) return t.fail('the starter test left no spent org');
    assertLimited(t, await call(a, 'GET', '/v1/me', spent.owner), 100, 'the spent org is still refused');

    const other = await starterOrg(t, 'Other Org');
    const res = await call(b, 'GET', '/v1/me', other.owner.auth);
    t.equal(res.statusCode, 200, 'another org has its own budget');
    t.same(rateHeaders(res), { limit: '100', remaining: '99', reset: String(RESET) });

    // Tokens without an org: each user has a budget of their own.
    const user = await loggedInUser(a);
    const second = await loggedInUser(a);
    for (let i = 0; i < 20; i++) {
      const r = await call(instances[i % 2]!, 'GET', '/v1/me', user.auth);
      if (r.statusCode !== 200) return t.fail(`user request ${i + 1} answered ${r.statusCode}: ${r.body}`);
      t.equal(header(r, 'ratelimit-remaining'), String(19 - i), `user request ${i + 1}: remaining`);
    }
    assertLimited(t, await call(b, 'GET', '/v1/me', user.auth), 20, "the user's 21st request");
    const fresh = await call(a, 'GET', '/v1/me', second.auth);
    t.equal(fresh.statusCode, 200, 'another user has their own budget');
    t.equal(header(fresh, 'ratelimit-remaining'), '19');
  });

  t.test('unauthenticated routes are not counted by it and keep their per-IP limit', async (t) => {
    const user = await loggedInUser(a);
    const first = await call(a, 'GET', '/v1/me', user.auth);
    t.equal(header(first, 'ratelimit-remaining'), '19');

    const publicAnswers = [
      await a.app.inject({ method: 'GET', url: '/.well-known/jwks.json', headers: user.auth }),
      await a.app.inject({ method: 'POST', url: '/v1/invitations/preview', headers: user.auth, payload: { token: 'x'.repeat(43) } }),
      await b.app.inject({ method: 'POST', url: '/v1/password/forgot', payload: { email: user.email } }),
    ];
    for (const res of publicAnswers) {
      t.equal(header(res, 'ratelimit-limit'), undefined, `${res.statusCode} from a public route: no per-org headers`);
    }
    t.equal(header(publicAnswers[1]!, 'x-ratelimit-limit'), '1000', 'a public route keeps its per-IP limit (X-RateLimit-*)');

    const bad = await call(a, 'GET', '/v1/me', { authorization: 'Bearer not-a-token' });
    assertProblem(t, bad, 401, 'INVALID_TOKEN');
    t.equal(header(bad, 'ratelimit-limit'), undefined, 'a request that does not authenticate is not counted');

    const after = await call(b, 'GET', '/v1/me', user.auth);
    t.equal(header(after, 'ratelimit-remaining'), '18', 'only the two authenticated requests were counted');
  });

  t.test('the budget starts again with the next window', async (t) => {
    if (!spent.orgId || !spent.owner) return t.fail('the starter test left no spent org');
    assertLimited(t, await call(b, 'GET', '/v1/me', spent.owner), 100, 'spent in this window');
    clock.advance(60_000);
    const res = await call(a, 'GET', '/v1/me', spent.owner);
    t.equal(res.statusCode, 200, res.body);
    t.same(rateHeaders(res), { limit: '100', remaining: '99', reset: String(RESET) }, 'a fresh budget in the next minute');
  });
}
