import t from 'tap';
import { buildTestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import {
  call,
  customRole,
  fillPath,
  invitationRow,
  joinOrg,
  member,
  orgScopedRoutes,
  orgSnapshot,
  orgWithOwner,
  quietUser,
  relogin,
} from '../../helpers/orgs.js';

/**
 * Tenant isolation, over the app's own route list: every route under /v1/orgs/{org} (taken from
 * the OpenAPI document, so a new route is covered the day it is added) answers the Owner of
 * another org 404 ORG_NOT_FOUND, with a body that is valid for the route (so the answer is the
 * guard's, not validation's), and leaves the target org exactly as it was. A route the table
 * below has no entry for fails the suite: its body must be written down here.
 */

const ctx = await buildTestApp(t);

/** A valid body for each route (undefined: the route takes none). Every org route must be here. */
const BODIES: Record<string, (() => unknown) | null> = {
  'GET /v1/orgs/{org}': null,
  'PATCH /v1/orgs/{org}': () => ({ name: 'Hijacked', security_policy: { session_idle_ttl: 600 } }),
  'DELETE /v1/orgs/{org}': null,
  'GET /v1/orgs/{org}/clients': null,
  'POST /v1/orgs/{org}/clients': () => ({ name: 'Hijacked Client' }),
  'GET /v1/orgs/{org}/members': null,
  'PATCH /v1/orgs/{org}/members/{user}': () => ({ roles: ['owner'] }),
  'DELETE /v1/orgs/{org}/members/{user}': null,
  'GET /v1/orgs/{org}/members/{user}/sessions': null,
  'POST /v1/orgs/{org}/members/{user}/sessions/revoke-all': null,
  'GET /v1/orgs/{org}/roles': null,
  'POST /v1/orgs/{org}/roles': () => ({ key: 'hijack', name: 'Hijack', permissions: ['org:delete'] }),
  'PATCH /v1/orgs/{org}/roles/{role}': () => ({ permissions: ['org:delete', 'billing:manage'] }),
  'DELETE /v1/orgs/{org}/roles/{role}': null,
  'GET /v1/orgs/{org}/invitations': null,
  'POST /v1/orgs/{org}/invitations': () => ({ name: 'Mallory', email: 'mallory@example.com', roles: ['owner'] }),
  'POST /v1/orgs/{org}/invitations/{id}/resend': null,
  'DELETE /v1/orgs/{org}/invitations/{id}': null,
  'GET /v1/orgs/{org}/tokens': null,
  'DELETE /v1/orgs/{org}/tokens/{id}': null,
};

const routes = orgScopedRoutes(ctx.app);
const keyOf = (r: { method: string; path: string }) => `${r.method} ${r.path}`;

// Set-up first (tap ends the file once its declared tests are done, so nothing is awaited after one).
// Org A (its Owner is the attacker); org B, a CRM org with people, roles, sessions, an
// invitation and a client org of its own; the client org, with a member, a role and an invitation.
const { owner: attacker, org: orgA } = await orgWithOwner(ctx, 'compliance', 'Attacker Org');
const { auth: attackerAuth } = await relogin(ctx, attacker, orgA.id);
const { owner: ownerB, org: orgB } = await orgWithOwner(ctx, 'crm', 'Victim Org');
const { auth: ownerBAuth } = await relogin(ctx, ownerB, orgB.id);
const staffB = await member(ctx, orgB.id, ['staff'], 'Sam Staff');
const managerB = await member(ctx, orgB.id, ['manager'], 'Meg Manager');
await customRole(ctx, orgB.id, 'b_only', ['reports:read']);
const inviteB = await invitationRow(ctx, orgB.id, ['staff'], ownerB.id);
const clientRes = await call(ctx, 'POST', `/v1/orgs/${orgB.id}/clients`, ownerBAuth, { name: 'Victim Client' });
if (clientRes.statusCode !== 201) throw new Error(`client creation failed: ${clientRes.body}`);
const clientB = clientRes.json() as { id: string };
const clientPerson = await quietUser(ctx, 'Cli Ent');
await joinOrg(ctx, clientB.id, clientPerson.id, ['admin']);
await customRole(ctx, clientB.id, 'c_only', ['reports:read']);
const inviteC = await invitationRow(ctx, clientB.id, ['auditor']);

const victims = [
  { name: 'org B', ids: { org: orgB.id, user: managerB.id, role: 'b_only', id: inviteB.id } },
  { name: "org B's client org", ids: { org: clientB.id, user: clientPerson.id, role: 'c_only', id: inviteC.id } },
];

t.test('every route under /v1/orgs/{org} has a row in the table', async (t) => {
  t.ok(routes.length >= 14, `the org routes are found (${routes.length})`);
  const missing = routes.map(keyOf).filter((k) => !(k in BODIES));
  t.same(missing, [], 'add a valid body for each of these routes to BODIES');
});

t.test("another org's Owner gets 404 ORG_NOT_FOUND on every org route, and the target org is unchanged", async (t) => {
  for (const victim of victims) {
    for (const route of routes) {
      const label = `${victim.name}: ${keyOf(route)}`;
      const body = BODIES[keyOf(route)];
      if (body === undefined) {
        t.fail(`${label}: no row in the table`);
        continue;
      }
      const before = await orgSnapshot(ctx, victim.ids.org);
      const res = await call(ctx, route.method, fillPath(route.path, victim.ids), attackerAuth, body?.());
      assertProblem(t, res, 404, 'ORG_NOT_FOUND', label);
      t.same(await orgSnapshot(ctx, victim.ids.org), before, `${label}: the org is unchanged`);
    }
  }
  // B's people still work in B.
  t.equal((await call(ctx, 'GET', `/v1/orgs/${orgB.id}`, ownerBAuth)).statusCode, 200, "B's Owner still works in B");
  t.equal((await call(ctx, 'GET', `/v1/orgs/${orgB.id}/members`, managerB.auth)).statusCode, 200, "B's Manager still works in B");
  t.equal((await call(ctx, 'GET', '/v1/me', staffB.auth)).statusCode, 200, "B's Staff token still works");
});

t.test("the attacker's own org id with the other org's member, role or invitation ids: 404, nothing changes", async (t) => {
  const objectRoutes = routes.filter((r) => /\{(user|role|id)\}/.test(r.path));
  t.ok(objectRoutes.length >= 6, `routes with object ids (${objectRoutes.length})`);
  for (const route of objectRoutes) {
    const label = `A's id, B's objects: ${keyOf(route)}`;
    const body = BODIES[keyOf(route)];
    if (body === undefined) continue;
    const before = await orgSnapshot(ctx, orgB.id);
    const res = await call(ctx, route.method, fillPath(route.path, { ...victims[0]!.ids, org: orgA.id }), attackerAuth, body?.());
    t.equal(res.statusCode, 404, `${label}: 404 (${res.body.slice(0, 160)})`);
    t.match(res.json().code, /_NOT_FOUND$/, `${label}: a not-found code`);
    t.same(await orgSnapshot(ctx, orgB.id), before, `${label}: B is unchanged`);
  }
});

t.test('a member of B without the permission gets 403, not 404: members know the org exists', async (t) => {
  const res = await call(ctx, 'GET', `/v1/orgs/${orgB.id}/members`, staffB.auth);
  const problem = assertProblem(t, res, 403, 'PERMISSION_DENIED');
  t.same(problem.missing, ['members:read']);
  t.equal((await call(ctx, 'GET', `/v1/orgs/${orgB.id}`, staffB.auth)).statusCode, 200, 'and sees the org itself');
});

t.test("an org's token does not open another org: B's Owner with a token for B gets 404 in A", async (t) => {
  assertProblem(t, await call(ctx, 'GET', `/v1/orgs/${orgA.id}/members`, ownerBAuth), 404, 'ORG_NOT_FOUND');
  assertProblem(t, await call(ctx, 'DELETE', `/v1/orgs/${orgA.id}`, ownerBAuth), 404, 'ORG_NOT_FOUND');
});
