import t from 'tap';
import { buildTestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { call, member, orgWithOwner, person, relogin } from '../../helpers/orgs.js';
import { createPat, createPatRequest, exchange, exchanged, whoami } from '../../helpers/pats.js';
import { manualClock, reauthenticate } from '../mfa/flow-support.js';

/** Creating, listing and revoking PATs: step-up, scopes the creator holds, the org's admins. */
const clock = manualClock();
const ctx = await buildTestApp(t, { kv: 'memory', clock });
const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Create Org');
// Fresh tokens for each test: the clock moves on (step-up, expiry).
const ownerFresh = async () => (await relogin(ctx, owner)).auth;
const ownerForOrg = async () => (await relogin(ctx, owner, org.id)).auth;

t.test('creation needs a recent authentication (step-up): stale, the password again, then it works', async (t) => {
  const dev = await member(ctx, org.id, ['developer'], 'Stella Stale');
  clock.advance(301);
  const stale = await createPatRequest(ctx, dev.auth, { org_id: org.id, scopes: ['api:manage'] });
  const body = assertProblem(t, stale, 403, 'REAUTHENTICATION_REQUIRED');
  t.match(body, { required_aal: 1, methods: ['password'] });
  t.equal((await ctx.db.selectFrom('pats').select('id').where('user_id', '=', dev.id).execute()).length, 0, 'nothing made');
  const re = await reauthenticate(ctx, dev.auth, { password: dev.password });
  t.equal(re.statusCode, 200, re.body);
  const res = await createPatRequest(ctx, dev.auth, { org_id: org.id, scopes: ['api:manage'], name: 'deploy bot', expires_in_days: 7 });
  t.equal(res.statusCode, 201, res.body);
  const created = res.json();
  t.match(created, { name: 'deploy bot', org_id: org.id, scopes: ['api:manage'] });
  t.match(created.token, /^tsr_pat_[0-9A-Za-z]{49}$/);
  t.equal(created.prefix, created.token.slice(0, 12), 'the display prefix is the secret\u2019s first characters');
  t.equal(new Date(created.expires_at).getTime() - new Date(created.created_at).getTime(), 7 * 86_400_000);
});

t.test('scopes beyond the creator\u2019s own permissions are refused (ESCALATION_DENIED, missing listed)', async (t) => {
  const auditor = await member(ctx, org.id, ['auditor'], 'Audrey Auditor');
  const res = await createPatRequest(ctx, auditor.auth, { org_id: org.id, scopes: ['audit:read', 'members:manage', 'org:delete'] });
  const body = assertProblem(t, res, 403, 'ESCALATION_DENIED');
  t.same(body.missing, ['members:manage', 'org:delete']);
  const ok = await createPatRequest(ctx, auditor.auth, { org_id: org.id, scopes: ['audit:read', 'reports:read'] });
  t.equal(ok.statusCode, 201, ok.body);
});

t.test('an org one is not a member of is 404 ORG_NOT_FOUND (it is not shown to exist)', async (t) => {
  const stranger = await person(ctx, { name: 'Stan Stranger' });
  assertProblem(t, await createPatRequest(ctx, stranger.auth, { org_id: org.id, scopes: ['reports:read'] }), 404, 'ORG_NOT_FOUND');
  const nowhere = '00000000-0000-4000-8000-000000000000';
  assertProblem(t, await createPatRequest(ctx, stranger.auth, { org_id: nowhere, scopes: ['reports:read'] }), 404, 'ORG_NOT_FOUND');
});

t.test('scopes outside the catalogue, and lifetimes outside 1-365 days, are 400', async (t) => {
  const auth = await ownerFresh();
  for (const scopes of [['admin'], ['nope:read'], [], ['reports:read', 'reports:read']]) {
    assertProblem(t, await createPatRequest(ctx, auth, { org_id: org.id, scopes }), 400, 'VALIDATION_FAILED', JSON.stringify(scopes));
  }
  for (const days of [0, 366, 1.5, -1]) {
    const res = await createPatRequest(ctx, auth, { org_id: org.id, scopes: ['reports:read'], expires_in_days: days });
    assertProblem(t, res, 400, 'VALIDATION_FAILED', `${days} days`);
  }
  const year = await createPatRequest(ctx, auth, { org_id: org.id, scopes: ['reports:read'], expires_in_days: 365 });
  t.equal(year.statusCode, 201, year.body);
  t.equal(new Date(year.json().expires_at).getTime() - clock.now().getTime(), 365 * 86_400_000);
});

t.test('an expired PAT is refused at the exchange', async (t) => {
  const pat = await createPat(ctx, await ownerFresh(), { org_id: org.id, scopes: ['reports:read'], expires_in_days: 1 });
  t.equal((await exchange(ctx, pat.token)).statusCode, 200);
  clock.advance(86_400 - 1);
  t.equal((await exchange(ctx, pat.token)).statusCode, 200, 'a second before its end');
  clock.advance(1);
  assertProblem(t, await exchange(ctx, pat.token), 400, 'INVALID_GRANT', 'at its end');
});

t.test('list: id, name, prefix, org, scopes, times; never the secret; revoke; another user\u2019s id is 404', async (t) => {
  const dev = await member(ctx, org.id, ['developer'], 'Lis Ter');
  const a = await createPat(ctx, dev.auth, { org_id: org.id, scopes: ['api:manage'], name: 'first' });
  const b = await createPat(ctx, dev.auth, { org_id: org.id, scopes: ['webhooks:manage'], name: 'second' });
  const list = await ctx.app.inject({ method: 'GET', url: '/v1/me/tokens', headers: dev.auth });
  t.equal(list.statusCode, 200, list.body);
  const tokens = list.json().tokens as Array<Record<string, unknown>>;
  t.same(tokens.map((x) => x.name).sort(), ['first', 'second']);
  for (const x of tokens) {
    t.same(Object.keys(x).sort(), ['created_at', 'expires_at', 'id', 'last_used_at', 'name', 'org_id', 'prefix', 'scopes']);
  }
  t.notOk(list.body.includes(a.token) || list.body.includes(b.token), 'no secret in the list');
  t.notOk(list.body.includes(a.token.slice(12, 40)), 'nor any part of it beyond the prefix');

  const other = await person(ctx, { name: 'Otto Other' });
  assertProblem(t, await call(ctx, 'DELETE', `/v1/me/tokens/${a.id}`, other.auth), 404, 'PAT_NOT_FOUND');
  t.equal((await exchange(ctx, a.token)).statusCode, 200, 'still alive');

  const del = await call(ctx, 'DELETE', `/v1/me/tokens/${a.id}`, dev.auth);
  t.equal(del.statusCode, 204, del.body);
  assertProblem(t, await call(ctx, 'DELETE', `/v1/me/tokens/${a.id}`, dev.auth), 404, 'PAT_NOT_FOUND', 'already revoked');
  const after = (await ctx.app.inject({ method: 'GET', url: '/v1/me/tokens', headers: dev.auth })).json().tokens as Array<{ id: string }>;
  t.same(
    after.map((x) => x.id),
    [b.id],
  );
  await ctx.services.audit.drain();
  const events = await ctx.db
    .selectFrom('audit_events')
    .selectAll()
    .where('action', '=', 'pat.revoked')
    .where('target_id', '=', a.id)
    .execute();
  t.equal(events.length, 1, 'audited');
  t.equal(events[0]!.org_id, org.id);
  t.equal(events[0]!.actor_id, dev.id);
});

t.test('org admins (api:manage) list and revoke the org\u2019s PATs; others may not', async (t) => {
  const ownerAuth = await ownerForOrg();
  const dev = await member(ctx, org.id, ['developer'], 'Ada Admin-Target');
  const pat = await createPat(ctx, dev.auth, { org_id: org.id, scopes: ['api:manage'] });
  const token = await exchanged(ctx, pat.token);
  const list = await call(ctx, 'GET', `/v1/orgs/${org.id}/tokens`, ownerAuth);
  t.equal(list.statusCode, 200, list.body);
  const mine = (list.json().tokens as Array<{ id: string; user_id: string }>).find((x) => x.id === pat.id);
  t.equal(mine?.user_id, dev.id, 'whose each token is');
  t.notOk(list.body.includes(pat.token), 'no secret');

  const auditor = await member(ctx, org.id, ['auditor'], 'No Api');
  assertProblem(t, await call(ctx, 'GET', `/v1/orgs/${org.id}/tokens`, auditor.auth), 403, 'PERMISSION_DENIED');
  assertProblem(t, await call(ctx, 'DELETE', `/v1/orgs/${org.id}/tokens/${pat.id}`, auditor.auth), 403, 'PERMISSION_DENIED');

  // Another org's admin cannot reach it through their own org.
  const other = await orgWithOwner(ctx, 'compliance', 'Other Org');
  assertProblem(t, await call(ctx, 'DELETE', `/v1/orgs/${other.org.id}/tokens/${pat.id}`, other.owner.auth), 404, 'PAT_NOT_FOUND');
  t.equal((await whoami(ctx, token)).statusCode, 200, 'still alive');

  const del = await call(ctx, 'DELETE', `/v1/orgs/${org.id}/tokens/${pat.id}`, ownerAuth);
  t.equal(del.statusCode, 204, del.body);
  assertProblem(t, await whoami(ctx, token), 401, 'SESSION_REVOKED', 'its access token dies at once');
  assertProblem(t, await exchange(ctx, pat.token), 400, 'INVALID_GRANT');
  await ctx.services.audit.drain();
  const event = await ctx.db
    .selectFrom('audit_events')
    .selectAll()
    .where('action', '=', 'pat.revoked')
    .where('target_id', '=', pat.id)
    .executeTakeFirstOrThrow();
  t.equal(event.actor_id, owner.id, 'the admin is the actor');
  t.equal(event.org_id, org.id);
});

t.test('at most 50 live PATs per account', async (t) => {
  const auth = await ownerFresh();
  const live = await ctx.db
    .selectFrom('pats')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('user_id', '=', owner.id)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', clock.now())
    .executeTakeFirstOrThrow();
  for (let i = Number(live.n); i < 50; i++) await createPat(ctx, auth, { org_id: org.id, scopes: ['reports:read'], name: `bulk ${i}` });
  assertProblem(t, await createPatRequest(ctx, auth, { org_id: org.id, scopes: ['reports:read'] }), 409, 'PAT_LIMIT_REACHED');
  const some = (await ctx.app.inject({ method: 'GET', url: '/v1/me/tokens', headers: auth })).json().tokens[0] as { id: string };
  t.equal((await call(ctx, 'DELETE', `/v1/me/tokens/${some.id}`, auth)).statusCode, 204);
  t.equal(
    (await createPatRequest(ctx, auth, { org_id: org.id, scopes: ['reports:read'] })).statusCode,
    201,
    'room again after a revocation',
  );
});
