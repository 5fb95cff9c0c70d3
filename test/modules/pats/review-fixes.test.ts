import t from 'tap';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { agencyWithClient, bearer, call, joinOrg, member, orgWithOwner, relogin } from '../../helpers/orgs.js';
import { createPat, createPatRequest, exchange, exchanged, whoami } from '../../helpers/pats.js';
import { issueOperatorToken } from '../../../src/modules/pats/operator.js';
import { createUnitOfWork } from '../../../src/infra/db/unit-of-work.js';
import { systemClock } from '../../../src/infra/clock.js';
import { manualClock } from '../mfa/flow-support.js';

/**
 * What the security review of PATs, exchange, introspection and the operator API found, each
 * reproduced before it was fixed: an operator's (or an org admin's) sign-out left the account's
 * PATs and their access tokens working; introspection took the verifier's clock tolerance past
 * exp; an agency actor's client-org PAT outlived their removal from the agency. And a guard: no
 * malformed input to these endpoints answers 5xx.
 */

function introspect(ctx: TestApp, credential: Record<string, string>, token: string) {
  return ctx.app.inject({ method: 'POST', url: '/v1/introspect', headers: credential, payload: { token } });
}

t.test('an operator\u2019s revoke-all also revokes the account\u2019s PATs and the access tokens they gave', async (t) => {
  const ctx = await buildTestApp(t);
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Compromised Org');
  const pat = await createPat(ctx, owner.auth, { org_id: org.id, scopes: ['reports:read'] });
  const minted = await exchanged(ctx, pat.token);
  const operator = await member(ctx, org.id, ['auditor'], 'Opal Operator');
  const op = await issueOperatorToken(
    { db: ctx.db, withTransaction: createUnitOfWork(ctx.db), audit: ctx.services.audit, clock: systemClock },
    { email: operator.email },
  );

  // The operator's tool for a compromised account: everything of it ends.
  const res = await ctx.app.inject({ method: 'POST', url: `/v1/admin/users/${owner.id}/sessions/revoke-all`, headers: bearer(op.token) });
  t.equal(res.statusCode, 200, res.body);
  t.same(res.json(), { revoked: 1, tokens_revoked: 1 });
  const row = await ctx.db.selectFrom('pats').select(['revoked_at', 'revoked_reason']).where('id', '=', pat.id).executeTakeFirstOrThrow();
  t.equal(row.revoked_reason, 'revoked_by_operator', 'the database holds the revocation');
  assertProblem(t, await whoami(ctx, owner.tokens.access_token), 401, 'SESSION_REVOKED', 'the session token dies');

  const me = await whoami(ctx, minted);
  t.equal(me.statusCode, 401, `the PAT-minted access token is refused too (got ${me.statusCode})`);
  const again = await exchange(ctx, pat.token);
  t.equal(again.statusCode, 400, `and the PAT can no longer be exchanged (got ${again.statusCode})`);
});

t.test('an org admin ending a member\u2019s sessions also revokes their PATs of that org, and only of that org', async (t) => {
  const ctx = await buildTestApp(t);
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Signout Org');
  const dev = await member(ctx, org.id, ['developer'], 'Dana Dev');
  const devPat = await createPat(ctx, dev.auth, { org_id: org.id, scopes: ['tokens:introspect'] });
  const minted = await exchanged(ctx, devPat.token);
  // The same person in another org, with a PAT there.
  const other = await orgWithOwner(ctx, 'compliance', 'Elsewhere Org');
  await joinOrg(ctx, other.org.id, dev.id, ['developer']);
  const elsewhere = await createPat(ctx, (await relogin(ctx, dev, other.org.id)).auth, {
    org_id: other.org.id,
    scopes: ['tokens:introspect'],
  });

  const res = await call(ctx, 'POST', `/v1/orgs/${org.id}/members/${dev.id}/sessions/revoke-all`, owner.auth);
  t.equal(res.statusCode, 200, res.body);
  t.equal(res.json().tokens_revoked, 1);
  assertProblem(t, await whoami(ctx, minted), 401, 'SESSION_REVOKED', 'the PAT\u2019s access token is refused at once');
  assertProblem(t, await exchange(ctx, devPat.token), 400, 'INVALID_GRANT', 'and the PAT is dead');
  t.equal((await exchange(ctx, elsewhere.token)).statusCode, 200, 'the PAT of the other org still works');
  const rows = await ctx.db
    .selectFrom('pats')
    .select(['id', 'revoked_reason'])
    .where('user_id', '=', dev.id)
    .orderBy('created_at')
    .execute();
  t.same(
    rows.map((r) => r.revoked_reason),
    ['revoked_by_org_admin', null],
  );
});

t.test('introspection: an access token is inactive from its exp on (no verifier tolerance for the issuer itself)', async (t) => {
  const clock = manualClock();
  const ctx = await buildTestApp(t, { clock });
  const { org } = await orgWithOwner(ctx, 'compliance', 'Expiry Org');
  const service = await member(ctx, org.id, ['developer'], 'Service Account');
  const user = await member(ctx, org.id, ['auditor'], 'Audrey Auditor');
  // Two seconds past the user's token's exp (900 s); the service logs in again for a live credential.
  clock.advance(902);
  const fresh = await relogin(ctx, service, org.id);
  const credential = (await createPat(ctx, fresh.auth, { org_id: org.id, scopes: ['tokens:introspect'] })).token;
  const res = await introspect(ctx, bearer(credential), user.tokens.access_token);
  t.equal(res.statusCode, 200, res.body);
  t.same(res.json(), { active: false }, 'an expired token is inactive');
});

t.test('an agency actor removed from the agency loses their client-org PATs for good', async (t) => {
  const ctx = await buildTestApp(t);
  const { owner, agency, reseller, client } = await agencyWithClient(ctx);
  const ownerAuth = owner.auth;
  // A non-member acting through the agency may make a PAT for the client org.
  const pat = await createPat(ctx, reseller.auth, { org_id: client.id, scopes: ['members:read'] });
  t.equal((await exchange(ctx, pat.token)).statusCode, 200, 'works while she is the agency\u2019s reseller');

  const removal = await call(ctx, 'DELETE', `/v1/orgs/${agency.id}/members/${reseller.id}`, ownerAuth);
  t.equal(removal.statusCode, 204, removal.body);
  assertProblem(t, await exchange(ctx, pat.token), 400, 'INVALID_GRANT', 'refused once she is removed');

  // Months later she is hired back by the agency (a new membership): the old PAT must stay dead,
  // as a removed member's PAT of their own org does.
  await joinOrg(ctx, agency.id, reseller.id, ['agency_reseller']);
  const after = await exchange(ctx, pat.token);
  t.equal(after.statusCode, 400, `the PAT from before the removal stays refused (got ${after.statusCode})`);
  const row = await ctx.db.selectFrom('pats').select('revoked_at').where('id', '=', pat.id).executeTakeFirstOrThrow();
  t.ok(row.revoked_at, 'it was revoked when she was removed');
});

t.test('malformed input to the issue\u2019s endpoints never answers 5xx', async (t) => {
  const ctx = await buildTestApp(t);
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Fuzz Org');
  const pat = await createPat(ctx, owner.auth, { org_id: org.id, scopes: ['tokens:introspect', 'api:manage'] });
  const svc = bearer(pat.token);
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  type Req = { method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; url: string; headers?: Record<string, string>; payload?: unknown };
  const reqs: Req[] = [];
  const bodies: unknown[] = [
    null,
    [],
    'x',
    1,
    {},
    { token: ['a', 'b'] },
    { token: { a: 1 } },
    { token: '' },
    { token: 'a'.repeat(5000) },
    { token: 'tsr_pat_' + '\u00e9'.repeat(49) },
    { token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.' },
    { token: 'a.b.c' },
    // A JWT whose kid is an object, then a number.
    { token: 'eyJraWQiOnsiYSI6MX0sImFsZyI6IkVTMjU2In0.e30.AAAA' },
    { token: 'eyJraWQiOjEyMywiYWxnIjoiRVMyNTYiLCJ0eXAiOiJhdCtqd3QifQ.e30.AAAA' },
    { token: 'x', extra: 1 },
    { token: 'x', token_type_hint: 5 },
    { name: 'x', org_id: org.id, scopes: ['admin'], expires_in_days: 1 },
    { name: 'x', org_id: org.id, scopes: ['reports:read'], expires_in_days: 1, user_id: owner.id },
    { name: 'x', org_id: org.id, scopes: ['reports:read'], expires_in_days: 1e300 },
  ];
  for (const payload of bodies) {
    const p = payload as string;
    reqs.push({ method: 'POST', url: '/v1/introspect', headers: svc, payload: p });
    reqs.push({ method: 'POST', url: '/v1/authz/check', headers: svc, payload: p });
    reqs.push({ method: 'POST', url: '/v1/token', payload: p });
    reqs.push({ method: 'POST', url: '/v1/me/tokens', headers: owner.auth, payload: p });
    reqs.push({ method: 'PATCH', url: `/v1/admin/orgs/${org.id}`, headers: svc, payload: p });
  }
  for (const raw of ['token=%E0%A4%A', 'token=a&token=b', 'token[a]=1', '=&&=', 'token', '%%%']) {
    reqs.push({ method: 'POST', url: '/v1/introspect', headers: { ...svc, ...form }, payload: raw });
    reqs.push({ method: 'POST', url: '/v1/token', headers: form, payload: raw });
  }
  for (const authorization of [
    'Basic',
    'Basic ',
    'Basic ====',
    'Basic YQ==',
    'Basic Og==',
    'Basic !!!!',
    `Basic ${Buffer.from('\u00ff\u00fe:x').toString('base64')}`,
    'Bearer',
    'Bearer  a  b',
  ]) {
    reqs.push({ method: 'POST', url: '/v1/introspect', headers: { authorization }, payload: { token: 'x' } });
    reqs.push({ method: 'POST', url: '/v1/admin/keys/rotate', headers: { authorization } });
  }
  for (const url of [
    '/v1/me/tokens/not-a-uuid',
    `/v1/orgs/${org.id}/tokens/zzz`,
    '/v1/orgs/zzz/tokens',
    '/v1/admin/users/zz/sessions/revoke-all',
  ]) {
    reqs.push({ method: 'DELETE', url, headers: owner.auth });
    reqs.push({ method: 'GET', url, headers: owner.auth });
    reqs.push({ method: 'POST', url, headers: svc });
  }
  for (const r of reqs) {
    const res = await ctx.app.inject({ ...r, payload: r.payload as string | undefined });
    if (res.statusCode >= 500) t.fail(`${r.method} ${r.url} ${JSON.stringify(r.payload)} -> ${res.statusCode} ${res.body.slice(0, 200)}`);
  }
  // A normal user cannot make an operator-scoped token.
  assertProblem(t, await createPatRequest(ctx, owner.auth, { org_id: org.id, scopes: ['admin'] }), 400, 'VALIDATION_FAILED', 'scope admin');
  t.pass(`sent ${reqs.length} malformed requests`);
});
