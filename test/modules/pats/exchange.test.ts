import t from 'tap';
import { decodeJwt } from 'jose';
import { buildTestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { call, member, orgWithOwner, relogin } from '../../helpers/orgs.js';
import { createPat, exchange, exchanged, whoami, PAT_TOKEN_TYPE } from '../../helpers/pats.js';

/**
 * RFC 8693 token exchange: a PAT for a 15-minute access token with the PAT's scopes that the owner
 * still holds, refused the same way (INVALID_GRANT) for anything but a live token of a member.
 */
const ctx = await buildTestApp(t);
const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Exchange Org');
const { auth: ownerAuth } = await relogin(ctx, owner, org.id);

type Claims = Record<string, unknown> & { permissions: string[]; roles: string[]; amr: string[] };
const claimsOf = (token: string) => decodeJwt(token) as Claims;

t.test('JSON and form bodies both exchange; the answer is RFC 8693 with no refresh token', async (t) => {
  const dev = await member(ctx, org.id, ['developer'], 'Dee Veloper');
  const pat = await createPat(ctx, dev.auth, { org_id: org.id, scopes: ['api:manage'] });
  for (const form of [false, true]) {
    const res = await exchange(ctx, pat.token, { form });
    t.equal(res.statusCode, 200, `${form ? 'form' : 'JSON'}: ${res.body}`);
    const body = res.json();
    t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'issued_token_type', 'scope', 'token_type']);
    t.equal(body.scope, 'api:manage', 'the scope granted');
    t.equal(body.issued_token_type, 'urn:ietf:params:oauth:token-type:access_token');
    t.equal(body.token_type, 'Bearer');
    t.equal(body.expires_in, 900);
    t.notOk('refresh_token' in body, 'no refresh token: the PAT is the long-lived credential');
  }
});

t.test('scope narrows the access token to some of the PAT\u2019s scopes; one it does not carry is INVALID_SCOPE', async (t) => {
  const dev = await member(ctx, org.id, ['developer', 'auditor'], 'Nora Narrow');
  const pat = await createPat(ctx, dev.auth, { org_id: org.id, scopes: ['audit:read', 'webhooks:manage'] });
  const body = (extra: Record<string, string>) => ({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: pat.token,
    subject_token_type: PAT_TOKEN_TYPE,
    ...extra,
  });
  const narrow = await ctx.app.inject({ method: 'POST', url: '/v1/token', payload: body({ scope: 'audit:read' }) });
  t.equal(narrow.statusCode, 200, narrow.body);
  t.equal(narrow.json().scope, 'audit:read');
  t.same(claimsOf(narrow.json().access_token).permissions, ['audit:read'], 'only what was asked for');

  const form = await ctx.app.inject({
    method: 'POST',
    url: '/v1/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(
      body({ scope: 'webhooks:manage audit:read', requested_token_type: 'urn:ietf:params:oauth:token-type:access_token' }),
    ).toString(),
  });
  t.equal(form.statusCode, 200, form.body);
  t.same(claimsOf(form.json().access_token).permissions, ['audit:read', 'webhooks:manage']);

  const beyond = await ctx.app.inject({ method: 'POST', url: '/v1/token', payload: body({ scope: 'audit:read members:manage' }) });
  const problem = assertProblem(t, beyond, 400, 'INVALID_SCOPE');
  t.equal(problem.error, 'invalid_scope', 'the OAuth error');
  t.same(problem.missing, ['members:manage']);

  const refresh = await ctx.app.inject({
    method: 'POST',
    url: '/v1/token',
    payload: body({ requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }),
  });
  assertProblem(t, refresh, 400, 'UNSUPPORTED_TOKEN_TYPE', 'only access tokens are issued');

  const unknown = await ctx.app.inject({ method: 'POST', url: '/v1/token', payload: body({ audience: 'elsewhere' }) });
  assertProblem(t, unknown, 400, 'VALIDATION_FAILED', 'parameters it does not take are refused, not ignored');
});

t.test('the claims: sub, sid = pat_id, org, no roles, the scopes, amr ["pat"], aal 1, plan and rv', async (t) => {
  const dev = await member(ctx, org.id, ['developer', 'auditor'], 'Claire Claims');
  const pat = await createPat(ctx, dev.auth, { org_id: org.id, scopes: ['audit:read', 'webhooks:manage'] });
  const claims = claimsOf(await exchanged(ctx, pat.token));
  t.equal(claims.sub, dev.id);
  t.equal(claims.sid, pat.id);
  t.equal(claims.pat_id, pat.id);
  t.equal(claims.org_id, org.id);
  t.same(claims.roles, []);
  t.same(claims.permissions, ['audit:read', 'webhooks:manage']);
  t.same(claims.amr, ['pat']);
  t.equal(claims.aal, 1);
  t.equal(claims.plan, 'starter');
  t.type(claims.rv, 'number');
  t.equal((claims.exp as number) - (claims.iat as number), 900);
  const me = await whoami(ctx, await exchanged(ctx, pat.token));
  t.equal(me.statusCode, 200, 'GET /v1/me takes it');
});

t.test('Tessera\u2019s own routes (which act with the member\u2019s full access) refuse an exchanged token', async (t) => {
  const pat = await createPat(ctx, owner.auth, { org_id: org.id, scopes: ['reports:read'] });
  const token = await exchanged(ctx, pat.token);
  const headers = { authorization: `Bearer ${token}` };
  for (const [method, url] of [
    ['GET', `/v1/orgs/${org.id}/members`],
    ['PATCH', `/v1/orgs/${org.id}`],
    ['GET', '/v1/me/tokens'],
    ['POST', '/v1/me/sessions/revoke-others'],
  ] as const) {
    const res = await call(ctx, method, url, headers, method === 'PATCH' ? { name: 'Taken Over' } : undefined);
    assertProblem(t, res, 401, 'INVALID_TOKEN', `${method} ${url}`);
  }
  const view = await call(ctx, 'GET', `/v1/orgs/${org.id}`, ownerAuth);
  t.equal(view.json().name, 'Exchange Org', 'nothing changed');
});

t.test(
  'permissions are the scopes intersected with the owner\u2019s permissions now: a lost one is gone from the next token, the old token is stale',
  async (t) => {
    const dev = await member(ctx, org.id, ['developer', 'auditor'], 'Lou Loses');
    const pat = await createPat(ctx, dev.auth, { org_id: org.id, scopes: ['audit:read', 'api:manage'] });
    const before = await exchanged(ctx, pat.token);
    t.same(claimsOf(before).permissions, ['api:manage', 'audit:read']);
    t.equal((await whoami(ctx, before)).statusCode, 200);
    const change = await call(ctx, 'PATCH', `/v1/orgs/${org.id}/members/${dev.id}`, ownerAuth, { roles: ['developer'] });
    t.equal(change.statusCode, 200, change.body);
    assertProblem(t, await whoami(ctx, before), 401, 'TOKEN_STALE', 'the token from before the change');
    const after = await exchanged(ctx, pat.token);
    t.same(claimsOf(after).permissions, ['api:manage'], 'audit:read is gone');
    t.equal((await whoami(ctx, after)).statusCode, 200, 'the new token works at once');
    // Given back: it is in the next token again (the PAT kept its scopes).
    await call(ctx, 'PATCH', `/v1/orgs/${org.id}/members/${dev.id}`, ownerAuth, { roles: ['developer', 'auditor'] });
    t.same(claimsOf(await exchanged(ctx, pat.token)).permissions, ['api:manage', 'audit:read']);
  },
);

t.test('a removed member\u2019s PAT is refused, and so are the tokens it gave', async (t) => {
  const dev = await member(ctx, org.id, ['developer'], 'Rhea Removed');
  const pat = await createPat(ctx, dev.auth, { org_id: org.id, scopes: ['api:manage'] });
  const token = await exchanged(ctx, pat.token);
  const removal = await call(ctx, 'DELETE', `/v1/orgs/${org.id}/members/${dev.id}`, ownerAuth);
  t.equal(removal.statusCode, 204, removal.body);
  assertProblem(t, await exchange(ctx, pat.token), 400, 'INVALID_GRANT');
  const res = await whoami(ctx, token);
  assertProblem(t, res, 401, 'SESSION_REVOKED', 'its access token');
  const row = await ctx.db.selectFrom('pats').select(['revoked_at', 'revoked_reason']).where('id', '=', pat.id).executeTakeFirstOrThrow();
  t.ok(row.revoked_at);
  t.equal(row.revoked_reason, 'removed_from_org');
  const rev = await ctx.db.selectFrom('revocations').selectAll().where('kind', '=', 'pat').where('pat_id', '=', pat.id).execute();
  t.equal(rev.length, 1, 'a pat row in the revocations table');
});

t.test('a member who leaves: the same', async (t) => {
  const dev = await member(ctx, org.id, ['developer'], 'Lea Ving');
  const pat = await createPat(ctx, dev.auth, { org_id: org.id, scopes: ['api:manage'] });
  const token = await exchanged(ctx, pat.token);
  const { auth } = await relogin(ctx, dev, org.id);
  const leave = await call(ctx, 'DELETE', `/v1/orgs/${org.id}/members/${dev.id}`, auth);
  t.equal(leave.statusCode, 204, leave.body);
  assertProblem(t, await exchange(ctx, pat.token), 400, 'INVALID_GRANT');
  assertProblem(t, await whoami(ctx, token), 401, 'SESSION_REVOKED');
});

t.test('a deleted account\u2019s PAT is refused, and so are its tokens', async (t) => {
  const dev = await member(ctx, org.id, ['developer'], 'Del Eted');
  const pat = await createPat(ctx, dev.auth, { org_id: org.id, scopes: ['api:manage'] });
  const token = await exchanged(ctx, pat.token);
  const { auth } = await relogin(ctx, dev);
  const gone = await ctx.app.inject({ method: 'DELETE', url: '/v1/me', headers: auth, payload: { password: dev.password } });
  t.equal(gone.statusCode, 204, gone.body);
  assertProblem(t, await exchange(ctx, pat.token), 400, 'INVALID_GRANT');
  const res = await whoami(ctx, token);
  t.equal(res.statusCode, 401, res.body);
  t.equal(res.json().code, 'SESSION_REVOKED');
  const rev = await ctx.db.selectFrom('revocations').selectAll().where('kind', '=', 'pat').where('pat_id', '=', pat.id).execute();
  t.equal(rev.length, 1, 'the revocation outlives the account');
  t.equal(rev[0]!.reason, 'account_deleted');
});

t.test('a revoked PAT: refused at once, and its tokens too', async (t) => {
  const pat = await createPat(ctx, owner.auth, { org_id: org.id, scopes: ['reports:read'] });
  const token = await exchanged(ctx, pat.token);
  t.equal((await whoami(ctx, token)).statusCode, 200);
  const del = await ctx.app.inject({ method: 'DELETE', url: `/v1/me/tokens/${pat.id}`, headers: owner.auth });
  t.equal(del.statusCode, 204, del.body);
  assertProblem(t, await whoami(ctx, token), 401, 'SESSION_REVOKED');
  assertProblem(t, await exchange(ctx, pat.token), 400, 'INVALID_GRANT');
});

t.test('an expired PAT is refused', async (t) => {
  const pat = await createPat(ctx, owner.auth, { org_id: org.id, scopes: ['reports:read'], expires_in_days: 1 });
  // Its expiry moved into the past before its first use (rows are remembered for a minute once used).
  await ctx.db
    .updateTable('pats')
    .set({ expires_at: new Date(Date.now() - 1000) })
    .where('id', '=', pat.id)
    .execute();
  const res = await exchange(ctx, pat.token);
  assertProblem(t, res, 400, 'INVALID_GRANT');
  t.equal(res.json().error, 'invalid_grant', 'RFC 6749 error');
});

t.test('every bad subject token is the same INVALID_GRANT; another subject_token_type is invalid_request', async (t) => {
  const pat = await createPat(ctx, owner.auth, { org_id: org.id, scopes: ['reports:read'] });
  const typo = pat.token.slice(0, 30) + (pat.token[30] === 'x' ? 'y' : 'x') + pat.token.slice(31);
  const unknown = 'tsr_pat_' + '0'.repeat(43);
  const bodies = new Set<string>();
  for (const secret of [typo, pat.token.slice(0, -1), unknown, 'not-a-token', `${pat.token}x`]) {
    const res = assertProblem(t, await exchange(ctx, secret), 400, 'INVALID_GRANT', secret.slice(0, 12));
    t.equal(res.error, 'invalid_grant');
    bodies.add(String(res.detail));
  }
  t.equal(bodies.size, 1, 'one message for all');
  const wrongType = await exchange(ctx, pat.token, { tokenType: 'urn:ietf:params:oauth:token-type:access_token' });
  const body = assertProblem(t, wrongType, 400, 'UNSUPPORTED_TOKEN_TYPE');
  t.equal(body.error, 'invalid_request');
  t.match(body.detail, PAT_TOKEN_TYPE);
});

t.test('an operator token (no org, scope admin) is refused at the exchange', async (t) => {
  const { issueOperatorToken } = await import('../../../src/modules/pats/operator.js');
  const { createUnitOfWork } = await import('../../../src/infra/db/unit-of-work.js');
  const { systemClock } = await import('../../../src/infra/clock.js');
  const issued = await issueOperatorToken(
    { db: ctx.db, withTransaction: createUnitOfWork(ctx.db), audit: ctx.services.audit, clock: systemClock },
    { email: owner.email },
  );
  assertProblem(t, await exchange(ctx, issued.token), 400, 'INVALID_GRANT');
});

t.test('discovery lists the token-exchange grant, its token types and the introspection endpoint', async (t) => {
  const res = await ctx.app.inject({ method: 'GET', url: '/.well-known/openid-configuration' });
  t.equal(res.statusCode, 200);
  const meta = res.json();
  t.ok(meta.grant_types_supported.includes('urn:ietf:params:oauth:grant-type:token-exchange'));
  t.ok(meta.grant_types_supported.includes('refresh_token'));
  t.same(meta.token_exchange_subject_token_types_supported, [PAT_TOKEN_TYPE]);
  t.equal(meta.introspection_endpoint, `${ctx.config.publicUrl}/v1/introspect`);
  t.same(meta.introspection_endpoint_auth_methods_supported, ['client_secret_basic', 'bearer']);
  t.equal(meta.token_endpoint, `${ctx.config.publicUrl}/v1/token`);
  // The endpoint it names is the one that answers.
  const introspect = await ctx.app.inject({ method: 'POST', url: new URL(meta.introspection_endpoint).pathname, payload: { token: 'x' } });
  t.equal(introspect.statusCode, 401);
});
