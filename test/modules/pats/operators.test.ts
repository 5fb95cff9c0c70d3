import t from 'tap';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { buildTestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { orgWithOwner, person, refresh, relogin } from '../../helpers/orgs.js';
import { basic, createPat, exchanged, makeOperator, whoami } from '../../helpers/pats.js';
import { issueOperatorToken } from '../../../src/modules/pats/operator.js';
import { createUnitOfWork } from '../../../src/infra/db/unit-of-work.js';
import { systemClock } from '../../../src/infra/clock.js';

/** Service credentials (kit.requireService) and the operator routes, /v1/admin/*. */
const ctx = await buildTestApp(t);
const operator = await person(ctx, { name: 'Opal Operator' });
const issue = (email: string) =>
  issueOperatorToken({ db: ctx.db, withTransaction: createUnitOfWork(ctx.db), audit: ctx.services.audit, clock: systemClock }, { email });
const opToken = (await issue(operator.email)).token;
const op = { authorization: `Bearer ${opToken}` };

const rotate = (headers: Record<string, string>) => ctx.app.inject({ method: 'POST', url: '/v1/admin/keys/rotate', headers });
const auditOf = async (action: string) => {
  await ctx.services.audit.drain();
  return ctx.db.selectFrom('audit_events').selectAll().where('action', '=', action).orderBy('seq', 'desc').execute();
};

t.test(
  'the service credential: missing 401, not a live PAT 401, without the scope 403 (admin needs an operator token of an operator)',
  async (t) => {
    const missing = assertProblem(t, await rotate({}), 401, 'AUTHENTICATION_REQUIRED');
    t.ok(missing);
    t.match((await rotate({})).headers['www-authenticate'], /^Bearer/);
    const bad = await rotate({ authorization: 'Bearer tsr_pat_nope' });
    assertProblem(t, bad, 401, 'INVALID_TOKEN');
    t.match(bad.headers['www-authenticate'], /invalid_token/);
    // A user's access token is not a service credential.
    assertProblem(t, await rotate(operator.auth), 401, 'INVALID_TOKEN', 'a JWT');
    assertProblem(t, await rotate({ authorization: 'Digest abc' }), 401, 'INVALID_TOKEN', 'another scheme');
    assertProblem(t, await rotate(basic(opToken.slice(0, -1) + '0')), 401, 'INVALID_TOKEN', 'a typo, as Basic');

    // An org PAT, even one with every permission, even of an operator, is not an operator token.
    const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Plain Org');
    const pat = await createPat(ctx, owner.auth, { org_id: org.id, scopes: ['billing:manage', 'org:manage', 'api:manage'] });
    const denied = assertProblem(t, await rotate({ authorization: `Bearer ${pat.token}` }), 403, 'PERMISSION_DENIED', 'a non-operator PAT');
    t.same(denied.missing, ['admin']);
    await makeOperator(ctx, owner.id);
    assertProblem(t, await rotate({ authorization: `Bearer ${pat.token}` }), 403, 'PERMISSION_DENIED', 'an operator\u2019s org PAT');
    await makeOperator(ctx, owner.id, false);

    t.equal((await rotate(op)).statusCode, 200, 'the operator token, as Bearer');
    t.equal((await rotate(basic(opToken))).statusCode, 200, 'and as the Basic password');
  },
);

t.test('an operator demoted loses the routes at once (checked on every use)', async (t) => {
  const someone = await person(ctx, { name: 'Demi Demoted' });
  const token = (await issue(someone.email)).token;
  const headers = { authorization: `Bearer ${token}` };
  t.equal((await rotate(headers)).statusCode, 200, 'while an operator');
  await makeOperator(ctx, someone.id, false);
  assertProblem(t, await rotate(headers), 403, 'PERMISSION_DENIED', 'the next request after the demotion');
  await makeOperator(ctx, someone.id, true);
  t.equal((await rotate(headers)).statusCode, 200, 'and back');
  // Revoked: the token itself is dead.
  const row = await ctx.db.selectFrom('pats').select('id').where('user_id', '=', someone.id).executeTakeFirstOrThrow();
  const del = await ctx.app.inject({ method: 'DELETE', url: `/v1/me/tokens/${row.id}`, headers: someone.auth });
  t.equal(del.statusCode, 204, del.body);
  assertProblem(t, await rotate(headers), 401, 'INVALID_TOKEN', 'revoked');
});

t.test('POST /v1/admin/users/{id}/sessions/revoke-all: every session of the user ends; audited with the operator', async (t) => {
  const victim = await person(ctx, { name: 'Vic Tim' });
  await relogin(ctx, victim);
  const res = await ctx.app.inject({ method: 'POST', url: `/v1/admin/users/${victim.id}/sessions/revoke-all`, headers: op });
  t.equal(res.statusCode, 200, res.body);
  t.same(res.json(), { revoked: 2, tokens_revoked: 0 });
  assertProblem(t, await whoami(ctx, victim.tokens.access_token), 401, 'SESSION_REVOKED');
  t.equal((await refresh(ctx, victim.tokens.refresh_token)).statusCode, 400);
  const [event] = await auditOf('admin.user_sessions_revoked');
  t.match(event, { actor_id: operator.id, target_type: 'user', target_id: victim.id });
  t.match(event!.data, { count: 2, via: 'operator_token' });
  const unknown = await ctx.app.inject({
    method: 'POST',
    url: `/v1/admin/users/00000000-0000-4000-8000-000000000000/sessions/revoke-all`,
    headers: op,
  });
  assertProblem(t, unknown, 404, 'USER_NOT_FOUND');
});

t.test('PATCH /v1/admin/orgs/{org} {plan}: the next org token carries the new plan; audited with the operator', async (t) => {
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Growing Org');
  const pat = await createPat(ctx, (await relogin(ctx, owner)).auth, { org_id: org.id, scopes: ['reports:read'] });
  t.equal(decodeJwt(await exchanged(ctx, pat.token)).plan, 'starter', 'starter (and the owner\u2019s access is remembered)');
  const before = await refresh(ctx, owner.tokens.refresh_token);
  t.equal(decodeJwt(before.json().access_token).plan, 'starter');

  const res = await ctx.app.inject({ method: 'PATCH', url: `/v1/admin/orgs/${org.id}`, headers: op, payload: { plan: 'professional' } });
  t.equal(res.statusCode, 200, res.body);
  t.same(res.json(), { id: org.id, plan: 'professional' });
  const next = await refresh(ctx, before.json().refresh_token);
  t.equal(decodeJwt(next.json().access_token).plan, 'professional', 'the next session token');
  t.equal(decodeJwt(await exchanged(ctx, pat.token)).plan, 'professional', 'the next exchanged token');
  const [event] = await auditOf('org.plan_changed');
  t.match(event, { actor_id: operator.id, org_id: org.id, target_id: org.id });
  t.match(event!.data, { from: 'starter', to: 'professional' });

  assertProblem(
    t,
    await ctx.app.inject({ method: 'PATCH', url: `/v1/admin/orgs/${org.id}`, headers: op, payload: { plan: 'platinum' } }),
    400,
    'VALIDATION_FAILED',
  );
  const nowhere = await ctx.app.inject({
    method: 'PATCH',
    url: '/v1/admin/orgs/00000000-0000-4000-8000-000000000000',
    headers: op,
    payload: { plan: 'enterprise' },
  });
  assertProblem(t, nowhere, 404, 'ORG_NOT_FOUND');
});

t.test('POST /v1/admin/keys/rotate: the new key signs at once; the old stays in the JWKS and its tokens still verify', async (t) => {
  const user = await person(ctx, { name: 'Kay Keys' });
  const oldKid = decodeProtectedHeader(user.tokens.access_token).kid;
  const res = await rotate(op);
  t.equal(res.statusCode, 200, res.body);
  const { kid } = res.json() as { kid: string; activates_at: string };
  t.not(kid, oldKid);
  const fresh = await relogin(ctx, user);
  t.equal(decodeProtectedHeader(fresh.tokens.access_token).kid, kid, 'the new key signs');
  const jwks = (await ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json() as { keys: Array<{ kid: string }> };
  const kids = jwks.keys.map((k) => k.kid);
  t.ok(kids.includes(kid) && kids.includes(oldKid!), 'both keys are published');
  t.equal((await whoami(ctx, user.tokens.access_token)).statusCode, 200, 'a token of the old key still verifies');
  const [event] = await auditOf('admin.signing_key_rotated');
  t.match(event, { actor_id: operator.id, target_id: kid });
});
