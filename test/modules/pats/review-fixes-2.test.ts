import t from 'tap';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { claimsOf, joinOrg, member, orgWithOwner, refresh, switchTo } from '../../helpers/orgs.js';
import { createPat, exchange, PAT_TOKEN_TYPE, TOKEN_EXCHANGE } from '../../helpers/pats.js';
import { userWithPhone } from '../../helpers/sms-flow.js';
import { generatePat } from '../../../src/modules/pats/format.js';
import { manualClock, orgOfTotpOwner, setPolicy, statusCounts } from '../mfa/flow-support.js';

/**
 * What the second review found, each reproduced before the fix: a burst of forged secrets passed
 * the lookup throttle together; a dead token retried locked its address out; a member outside the
 * allowed factors kept using PATs; a blank scope gave an empty token; creating a PAT while being
 * removed deadlocked. The last test (concurrent sign-outs, removal and deletion of one user) is a
 * guard that passed.
 */

const exchangeFrom = (ctx: TestApp, ip: string, secret: string, extra: Record<string, string> = {}) =>
  ctx.app.inject({
    method: 'POST',
    url: '/v1/token',
    remoteAddress: ip,
    payload: { grant_type: TOKEN_EXCHANGE, subject_token: secret, subject_token_type: PAT_TOKEN_TYPE, ...extra },
  });

t.test('lookup throttle: concurrent unknown secrets from one address get no more lookups than the budget', async (t) => {
  const clock = manualClock();
  const ctx = await buildTestApp(t, { clock, env: { PAT_LOOKUP_MISSES_PER_MINUTE: '3' } });
  clock.advance(60 - (clock.nowSeconds() % 60));
  // 20 forged secrets (valid checksum) at once from one address: the budget is 3 a minute.
  const answers = await Promise.all(Array.from({ length: 20 }, () => exchangeFrom(ctx, '10.9.9.9', generatePat().secret)));
  const counts = statusCounts(answers);
  t.ok((counts[400] ?? 0) <= 3, `at most 3 reach the database (INVALID_GRANT); got ${JSON.stringify(counts)}`);
  t.equal(counts[429] ?? 0, 17, 'the rest are refused before the lookup');
});

t.test('lookup throttle: a dead token (its owner deleted the account) retried does not lock its address out of a live token', async (t) => {
  const clock = manualClock();
  const ctx = await buildTestApp(t, { clock, env: { PAT_LOOKUP_MISSES_PER_MINUTE: '3' } });
  clock.advance(60 - (clock.nowSeconds() % 60));
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Shared Host Org');
  const live = await createPat(ctx, owner.auth, { org_id: org.id, scopes: ['tokens:introspect'] });

  // A second member's cron job on the same host keeps its PAT after they delete their account.
  const leaver = await member(ctx, org.id, ['developer'], 'Lee Leaver');
  const dead = await createPat(ctx, leaver.auth, { org_id: org.id, scopes: ['tokens:introspect'] });
  t.equal((await exchangeFrom(ctx, '10.1.1.1', dead.token)).statusCode, 200);
  const del = await ctx.app.inject({ method: 'DELETE', url: '/v1/me', headers: leaver.auth, payload: { password: leaver.password } });
  t.equal(del.statusCode, 204, del.body);
  // A minute on (the instance's memory of the row is over). A revoked token is found (a known row)
  // and is no miss; a deleted owner's token went with the row, and each retry counts as forged.
  clock.advance(60);
  for (let i = 0; i < 4; i++) await exchangeFrom(ctx, '10.1.1.1', dead.token);

  const res = await exchangeFrom(ctx, '10.1.1.1', live.token);
  t.equal(res.statusCode, 200, `a live token from that host is still exchanged (got ${res.statusCode} ${res.body})`);
});

t.test('PAT of a member out of the allowed factors (require_mfa off, allowed_factors narrowed) stops, as their sessions do', async (t) => {
  const clock = manualClock();
  const ctx = await buildTestApp(t, { clock });
  const { owner, org } = await orgOfTotpOwner(ctx, clock, 'Factor Org');

  // A member with SMS only (their session is aal 2 after confirming the phone), joined an hour ago.
  const sms = await userWithPhone(ctx);
  await joinOrg(ctx, org.id, sms.userId, ['developer'], new Date(clock.now().getTime() - 3600_000));
  const auth = await switchTo(ctx, sms.tokens, org.id);
  const pat = await createPat(ctx, auth, { org_id: org.id, scopes: ['tokens:introspect'] });
  t.equal((await exchange(ctx, pat.token)).statusCode, 200, 'before the policy the PAT works');

  // Authenticator apps only; MFA is not "required", but SMS is no longer accepted (grace 0).
  const policy = await setPolicy(ctx, owner.auth, org.id, { allowed_factors: ['totp'], enrollment_grace_days: 0 });
  t.equal(policy.statusCode, 200, policy.body);
  clock.advance(1);

  // A new login for the org is sent to enrol an authenticator app (SMS is not accepted).
  const login = await ctx.app.inject({
    method: 'POST',
    url: '/v1/login',
    payload: { email: sms.email, password: sms.password, org_id: org.id },
  });
  t.not(login.json().status, 'authenticated', `their login for the org does not give tokens (${login.body})`);
  const res = await exchange(ctx, pat.token);
  assertProblem(t, res, 400, 'INVALID_GRANT', 'and so is their PAT');
});

t.test('exchange scope: a blank scope is a malformed request, not a token with no permissions', async (t) => {
  const ctx = await buildTestApp(t);
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Scope Org');
  const pat = await createPat(ctx, owner.auth, { org_id: org.id, scopes: ['reports:read', 'tokens:introspect'] });

  const ok = await exchangeFrom(ctx, '10.2.2.2', pat.token, { scope: 'reports:read  reports:read' });
  t.equal(ok.statusCode, 200, ok.body);
  t.equal(ok.json().scope, 'reports:read');
  t.same(claimsOf(ok.json().access_token).permissions, ['reports:read']);

  const blank = await exchangeFrom(ctx, '10.2.2.2', pat.token, { scope: '   ' });
  t.equal(blank.statusCode, 400, `a scope of spaces only is refused (got ${blank.statusCode} ${blank.body})`);
});

t.test('a PAT being created while its owner is removed from the org: one of them wins, no deadlock 500', async (t) => {
  const ctx = await buildTestApp(t);
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Create Race Org');
  const statuses: Record<number, number> = {};
  for (let round = 0; round < 10; round++) {
    const m = await member(ctx, org.id, ['developer'], `Creator ${round}`);
    const [created, removed] = await Promise.all([
      ctx.app.inject({
        method: 'POST',
        url: '/v1/me/tokens',
        headers: m.auth,
        payload: { name: 'deploy', expires_in_days: 5, org_id: org.id, scopes: ['tokens:introspect'] },
      }),
      ctx.app.inject({ method: 'DELETE', url: `/v1/orgs/${org.id}/members/${m.id}`, headers: owner.auth }),
    ]);
    for (const r of [created, removed]) statuses[r.statusCode] = (statuses[r.statusCode] ?? 0) + 1;
  }
  t.equal(statuses[500] ?? 0, 0, `no 500 (Postgres: deadlock detected); statuses ${JSON.stringify(statuses)}`);
});

t.test(
  'guard (passed): org admin sign-out, removal, leaving, account deletion, password change and refresh of one user at once',
  async (t) => {
    const ctx = await buildTestApp(t);
    const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Race Org');
    const statuses: Record<number, number> = {};
    for (let round = 0; round < 10; round++) {
      const m = await member(ctx, org.id, ['developer'], `Racer ${round}`);
      await createPat(ctx, m.auth, { org_id: org.id, scopes: ['tokens:introspect'] });
      await createPat(ctx, m.auth, { org_id: org.id, scopes: ['api:manage'] });
      const url = `/v1/orgs/${org.id}/members/${m.id}`;
      const answers = await Promise.race([
        Promise.all([
          ctx.app.inject({ method: 'POST', url: `${url}/sessions/revoke-all`, headers: owner.auth }),
          ctx.app.inject({ method: 'DELETE', url, headers: owner.auth }),
          ctx.app.inject({ method: 'DELETE', url: '/v1/me', headers: m.auth, payload: { password: m.password } }),
          ctx.app.inject({
            method: 'POST',
            url: '/v1/me/password',
            headers: m.auth,
            payload: { current_password: m.password, new_password: `${m.password}-x` },
          }),
          refresh(ctx, m.tokens.refresh_token),
          ctx.app.inject({ method: 'DELETE', url, headers: m.auth }),
          ctx.app.inject({ method: 'POST', url: `${url}/sessions/revoke-all`, headers: owner.auth }),
        ]),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('hung')), 15_000)),
      ]);
      for (const a of answers) statuses[a.statusCode] = (statuses[a.statusCode] ?? 0) + 1;
    }
    t.equal(statuses[500] ?? 0, 0, `no 500; statuses ${JSON.stringify(statuses)}`);
    const live = await ctx.db.selectFrom('pats').select('id').where('revoked_at', 'is', null).where('org_id', '=', org.id).execute();
    t.same(live, [], 'no PAT of the racers survives');
  },
);
