import t from 'tap';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { bearer, member, orgWithOwner } from '../../helpers/orgs.js';
import { basic, createPat, exchanged } from '../../helpers/pats.js';
import { issueOperatorToken } from '../../../src/modules/pats/operator.js';
import { createUnitOfWork } from '../../../src/infra/db/unit-of-work.js';
import { manualClock } from '../mfa/flow-support.js';

/**
 * RFC 7662 introspection for services: a credential (a PAT with tokens:introspect) asks about a
 * token; anything not live, or of another org, is exactly {active:false}.
 */
const INACTIVE = { active: false };

function introspect(ctx: TestApp, credential: Record<string, string>, token: string, form = false) {
  return form
    ? ctx.app.inject({
        method: 'POST',
        url: '/v1/introspect',
        headers: { ...credential, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ token }).toString(),
      })
    : ctx.app.inject({ method: 'POST', url: '/v1/introspect', headers: credential, payload: { token } });
}

t.test('introspection', async (t) => {
  const clock = manualClock();
  const ctx = await buildTestApp(t, { clock });
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Org A');
  const service = await member(ctx, org.id, ['developer'], 'Service Account');
  const credential = (await createPat(ctx, service.auth, { org_id: org.id, scopes: ['tokens:introspect'] })).token;
  const auth = bearer(credential);
  const user = await member(ctx, org.id, ['auditor'], 'Audrey Auditor');
  const b = await orgWithOwner(ctx, 'crm', 'Org B');

  t.test('a live access token: its claims', async (t) => {
    const res = await introspect(ctx, auth, user.tokens.access_token);
    t.equal(res.statusCode, 200, res.body);
    t.match(res.json(), {
      active: true,
      sub: user.id,
      sid: user.tokens.session_id,
      org_id: org.id,
      roles: ['auditor'],
      token_type: 'Bearer',
      client_id: 'tessera',
      aal: 1,
      amr: ['pwd'],
      exp: Number,
      iat: Number,
    });
    t.equal(res.json().scope, res.json().permissions.join(' '));
    t.same((await introspect(ctx, basic(credential), user.tokens.access_token, true)).json(), res.json(), 'form body and Basic credential');
  });

  t.test('every inactive case is exactly {active:false}', async (t) => {
    const cases: Array<[string, () => Promise<string>]> = [
      ['garbage', async () => 'not-a-token'],
      ['a tampered signature', async () => `${user.tokens.access_token.slice(0, -4)}AAAA`],
      ['another org\u2019s token', async () => b.owner.tokens.access_token],
      [
        'a token without an org',
        async () =>
          (
            await ctx.app.inject({
              method: 'POST',
              url: '/v1/token',
              payload: {
                grant_type: 'refresh_token',
                refresh_token: (await member(ctx, org.id, ['auditor'])).tokens.refresh_token,
                org_id: null,
              },
            })
          ).json().access_token,
      ],
      [
        'a logged-out session',
        async () => {
          const m = await member(ctx, org.id, ['auditor']);
          await ctx.app.inject({ method: 'POST', url: '/v1/logout', headers: m.auth });
          return m.tokens.access_token;
        },
      ],
      [
        'roles changed since (stale)',
        async () => {
          const m = await member(ctx, org.id, ['auditor']);
          await ctx.app.inject({
            method: 'PATCH',
            url: `/v1/orgs/${org.id}/members/${m.id}`,
            headers: owner.auth,
            payload: { roles: ['dpo'] },
          });
          return m.tokens.access_token;
        },
      ],
      [
        'a revoked PAT\u2019s access token',
        async () => {
          const m = await member(ctx, org.id, ['developer']);
          const pat = await createPat(ctx, m.auth, { org_id: org.id, scopes: ['api:manage'] });
          const token = await exchanged(ctx, pat.token);
          await ctx.app.inject({ method: 'DELETE', url: `/v1/me/tokens/${pat.id}`, headers: m.auth });
          return token;
        },
      ],
      [
        'a revoked PAT',
        async () => {
          const m = await member(ctx, org.id, ['developer']);
          const pat = await createPat(ctx, m.auth, { org_id: org.id, scopes: ['api:manage'] });
          await ctx.app.inject({ method: 'DELETE', url: `/v1/me/tokens/${pat.id}`, headers: m.auth });
          return pat.token;
        },
      ],
      ['a PAT with a wrong checksum', async () => `${credential.slice(0, -1)}${credential.endsWith('A') ? 'B' : 'A'}`],
      [
        'a deleted user\u2019s token',
        async () => {
          const m = await member(ctx, org.id, ['auditor']);
          const del = await ctx.app.inject({ method: 'DELETE', url: '/v1/me', headers: m.auth, payload: { password: m.password } });
          if (del.statusCode !== 204) throw new Error(del.body);
          return m.tokens.access_token;
        },
      ],
    ];
    for (const [label, make] of cases) {
      const res = await introspect(ctx, auth, await make());
      t.equal(res.statusCode, 200, label);
      t.same(res.json(), INACTIVE, label);
    }
  });

  t.test('PATs themselves', async (t) => {
    const m = await member(ctx, org.id, ['developer']);
    const pat = await createPat(ctx, m.auth, { org_id: org.id, scopes: ['api:manage', 'webhooks:manage'] });
    const res = (await introspect(ctx, auth, pat.token)).json();
    t.match(res, {
      active: true,
      sub: m.id,
      org_id: org.id,
      scope: 'api:manage webhooks:manage',
      token_type: 'urn:tessera:token-type:pat',
      pat_id: pat.id,
    });
    const bDev = await member(ctx, b.org.id, ['manager']);
    const bPat = await createPat(ctx, bDev.auth, { org_id: b.org.id, scopes: ['members:read'] });
    t.same((await introspect(ctx, auth, bPat.token)).json(), INACTIVE, 'another org\u2019s PAT');
  });

  t.test('the caller: missing, bad or without the scope is 401', async (t) => {
    assertProblem(t, await introspect(ctx, {}, user.tokens.access_token), 401, 'AUTHENTICATION_REQUIRED');
    assertProblem(t, await introspect(ctx, bearer('tsr_pat_nope'), user.tokens.access_token), 401, 'INVALID_TOKEN');
    assertProblem(
      t,
      await introspect(ctx, user.auth, user.tokens.access_token),
      401,
      'INVALID_TOKEN',
      'a user access token is no credential',
    );
    const m = await member(ctx, org.id, ['developer']);
    const narrow = await createPat(ctx, m.auth, { org_id: org.id, scopes: ['api:manage'] });
    assertProblem(t, await introspect(ctx, bearer(narrow.token), user.tokens.access_token), 401, 'INVALID_TOKEN', 'under-scoped');
  });

  t.test('an operator credential sees every org', async (t) => {
    const op = await member(ctx, org.id, ['auditor'], 'Op Erator');
    const opPat = await issueOperatorToken(
      { db: ctx.db, withTransaction: createUnitOfWork(ctx.db), audit: ctx.services.audit, clock },
      { email: op.email, days: 1 },
    );
    const res = (await introspect(ctx, bearer(opPat.token), b.owner.tokens.access_token)).json();
    t.match(res, { active: true, org_id: b.org.id });
  });

  t.test('authz/check: the same hasPermissions as the guard', async (t) => {
    const check = (body: Record<string, unknown>, headers = auth) =>
      ctx.app.inject({ method: 'POST', url: '/v1/authz/check', headers, payload: body });
    const byToken = await check({ token: user.tokens.access_token, org_id: org.id, permissions: ['audit:read', 'members:manage'] });
    t.same(byToken.json(), { allowed: false, missing: ['members:manage'] });
    const byUser = await check({ user_id: user.id, org_id: org.id, permissions: ['audit:read'] });
    t.same(byUser.json(), { allowed: true, missing: [] });
    const otherOrg = await check({ user_id: b.owner.id, org_id: b.org.id, permissions: ['members:read'] });
    t.same(otherOrg.json(), { allowed: false, missing: ['members:read'] }, 'another org: nothing');
    assertProblem(t, await check({ org_id: org.id, permissions: ['audit:read'] }), 400, 'VALIDATION_FAILED');
    assertProblem(t, await check({ user_id: user.id, org_id: org.id, permissions: ['not:a-permission'] }), 400, 'VALIDATION_FAILED');
  });
  // Last: the clock moves past every token issued so far.
  t.test('an expired token', async (t) => {
    // Expired: the clock moves past the token's 15 minutes.
    const m = await member(ctx, org.id, ['auditor']);
    // Past exp and the verifier's 5 s of clock tolerance.
    clock.advance(910);
    const fresh = await member(ctx, org.id, ['developer']);
    const freshCredential = bearer((await createPat(ctx, fresh.auth, { org_id: org.id, scopes: ['tokens:introspect'] })).token);
    t.same((await introspect(ctx, freshCredential, m.tokens.access_token)).json(), INACTIVE, 'expired');
  });
});
