import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import {
  call,
  customRole,
  fillPath,
  invitationRow,
  joinOrg,
  member,
  orgScopedRoutes,
  orgWithOwner,
  person,
  quietUser,
  relogin,
  type Auth,
  type Method,
} from '../../helpers/orgs.js';
import { ROLE_PRESETS } from '../../../src/modules/orgs/presets.js';
import type { Permission } from '../../../src/shared/permissions.js';

/**
 * The permission matrix: for every preset role, every action Tessera enforces on an org is
 * allowed or refused (403 PERMISSION_DENIED listing what is missing) exactly as the role's
 * permissions in presets.ts say. The expectation is derived from the preset data and the table
 * below (route → the permissions it requires); the derived matrix is also compared with a
 * written-out one, so a change of a preset or of a route's guard fails here, visibly.
 */

const ctx = await buildTestApp(t);

type Env = { ctx: TestApp; orgId: string; actor: Auth };
type Prepared = { ids?: Record<string, string>; body?: unknown };
type Action = {
  id: string;
  method: Method;
  path: string;
  /** What the route requires (the table this suite checks the guards against). */
  needs: Permission[];
  /** The status of success. */
  ok: number;
  /** A fresh target for this one call (a member to re-role, a role to delete...). */
  prepare?: (env: Env) => Promise<Prepared>;
};

/** A member holding only the permission-less custom role `badge`: anyone may handle it, so only the guard decides. */
async function freshTarget(env: Env) {
  const target = await quietUser(env.ctx);
  await joinOrg(env.ctx, env.orgId, target.id, ['badge']);
  return target.id;
}

const unique = () => randomUUID().slice(0, 8);

const ACTIONS: Action[] = [
  { id: 'org.view', method: 'GET', path: '/v1/orgs/{org}', needs: [], ok: 200 },
  {
    id: 'org.update',
    method: 'PATCH',
    path: '/v1/orgs/{org}',
    needs: ['org:manage'],
    ok: 200,
    prepare: async () => ({ body: { name: `Renamed ${unique()}` } }),
  },
  { id: 'members.list', method: 'GET', path: '/v1/orgs/{org}/members', needs: ['members:read'], ok: 200 },
  {
    id: 'members.set_roles',
    method: 'PATCH',
    path: '/v1/orgs/{org}/members/{user}',
    needs: ['members:manage'],
    ok: 200,
    prepare: async (env) => ({ ids: { user: await freshTarget(env) }, body: { roles: ['badge_b'] } }),
  },
  {
    id: 'members.remove',
    method: 'DELETE',
    path: '/v1/orgs/{org}/members/{user}',
    needs: ['members:manage'],
    ok: 204,
    prepare: async (env) => ({ ids: { user: await freshTarget(env) } }),
  },
  {
    id: 'members.sessions',
    method: 'GET',
    path: '/v1/orgs/{org}/members/{user}/sessions',
    needs: ['sessions:manage'],
    ok: 200,
    prepare: async (env) => ({ ids: { user: await freshTarget(env) } }),
  },
  {
    id: 'members.revoke_sessions',
    method: 'POST',
    path: '/v1/orgs/{org}/members/{user}/sessions/revoke-all',
    needs: ['sessions:manage'],
    ok: 200,
    prepare: async (env) => ({ ids: { user: await freshTarget(env) } }),
  },
  { id: 'roles.list', method: 'GET', path: '/v1/orgs/{org}/roles', needs: ['members:read'], ok: 200 },
  {
    id: 'roles.create',
    method: 'POST',
    path: '/v1/orgs/{org}/roles',
    needs: ['roles:manage'],
    ok: 201,
    prepare: async () => ({ body: { key: `r_${unique()}`, name: 'Fresh Role', permissions: [] } }),
  },
  {
    id: 'roles.update',
    method: 'PATCH',
    path: '/v1/orgs/{org}/roles/{role}',
    needs: ['roles:manage'],
    ok: 200,
    prepare: async (env) => ({ ids: { role: await customRole(env.ctx, env.orgId, `r_${unique()}`) }, body: { name: 'Renamed Role' } }),
  },
  {
    id: 'roles.delete',
    method: 'DELETE',
    path: '/v1/orgs/{org}/roles/{role}',
    needs: ['roles:manage'],
    ok: 204,
    prepare: async (env) => ({ ids: { role: await customRole(env.ctx, env.orgId, `r_${unique()}`) } }),
  },
  {
    id: 'clients.create',
    method: 'POST',
    path: '/v1/orgs/{org}/clients',
    needs: ['clients:manage'],
    ok: 201,
    prepare: async () => ({ body: { name: `Client ${unique()}` } }),
  },
  { id: 'clients.list', method: 'GET', path: '/v1/orgs/{org}/clients', needs: ['clients:manage'], ok: 200 },
  // Invitations (when the app has them).
  {
    id: 'invitations.create',
    method: 'POST',
    path: '/v1/orgs/{org}/invitations',
    needs: ['members:invite'],
    ok: 201,
    prepare: async () => ({ body: { name: 'Ivy Invitee', email: `invitee-${unique()}@example.com`, roles: ['badge'] } }),
  },
  { id: 'invitations.list', method: 'GET', path: '/v1/orgs/{org}/invitations', needs: ['members:invite'], ok: 200 },
  {
    id: 'invitations.resend',
    method: 'POST',
    path: '/v1/orgs/{org}/invitations/{id}/resend',
    needs: ['members:invite'],
    ok: 200,
    prepare: async (env) => ({ ids: { id: (await invitationRow(env.ctx, env.orgId, ['badge'])).id } }),
  },
  {
    id: 'invitations.revoke',
    method: 'DELETE',
    path: '/v1/orgs/{org}/invitations/{id}',
    needs: ['members:invite'],
    ok: 204,
    prepare: async (env) => ({ ids: { id: (await invitationRow(env.ctx, env.orgId, ['badge'])).id } }),
  },
  // Personal access tokens: the org's admins (api:manage) list and revoke them.
  { id: 'tokens.list', method: 'GET', path: '/v1/orgs/{org}/tokens', needs: ['api:manage'], ok: 200 },
  {
    id: 'tokens.revoke',
    method: 'DELETE',
    path: '/v1/orgs/{org}/tokens/{id}',
    needs: ['api:manage'],
    ok: 204,
    prepare: async (env) => {
      const id = randomUUID();
      await env.ctx.db
        .insertInto('pats')
        .values({
          id,
          user_id: await freshTarget(env),
          org_id: env.orgId,
          name: 'matrix',
          prefix: 'tsr_pat_0000',
          token_hash: randomBytes(32),
          scopes: ['reports:read'],
          expires_at: new Date(Date.now() + 86_400_000),
        })
        .execute();
      return { ids: { id } };
    },
  },
  // Last: when it is allowed, the org is gone. Also needs a recent authentication (the login was just now).
  {
    id: 'org.delete',
    method: 'DELETE',
    path: '/v1/orgs/{org}',
    needs: ['org:delete'],
    ok: 204,
    // An agency cannot be deleted while a client of its has no Owner: the clients created above get one.
    prepare: async (env) => {
      const clients = await env.ctx.db.selectFrom('orgs').select('id').where('managed_by', '=', env.orgId).execute();
      for (const c of clients) {
        const heir = await person(env.ctx, { name: 'Client Heir' });
        await joinOrg(env.ctx, c.id, heir.id, ['owner']);
      }
      return {};
    },
  },
];

/** What was reviewed: each role's allowed actions. A preset or guard change must change this table too. */
const ALL = ACTIONS.map((a) => a.id);
const REVIEWED: Record<string, Record<string, string[]>> = {
  compliance: {
    owner: ALL,
    admin: ALL.filter((a) => a !== 'org.delete'),
    business_owner: ['org.view', 'members.list', 'roles.list'],
    dpo: ['org.view', 'members.list', 'roles.list'],
    data_controller: ['org.view'],
    developer: ['org.view', 'tokens.list', 'tokens.revoke'],
    auditor: ['org.view'],
    agency_reseller: ['org.view', 'clients.create', 'clients.list'],
  },
  crm: {
    owner: ALL,
    manager: [
      'org.view',
      'members.list',
      'members.set_roles',
      'members.remove',
      'members.sessions',
      'members.revoke_sessions',
      'roles.list',
      'roles.create',
      'roles.update',
      'roles.delete',
      'invitations.create',
      'invitations.list',
      'invitations.resend',
      'invitations.revoke',
    ],
    staff: ['org.view'],
  },
};

const key = (method: string, path: string) => `${method} ${path}`;
const routes = orgScopedRoutes(ctx.app);
const present = new Set(routes.map((r) => key(r.method, r.path)));
const active = ACTIONS.filter((a) => present.has(key(a.method, a.path)));

/** On a 500, the server's log lines of that request (what the answer hides). */
const serverLog = (res: { statusCode: number; headers: Record<string, unknown> }) =>
  res.statusCode >= 500 ? ` ${ctx.logs.filter((l) => l.includes(String(res.headers['x-request-id']))).join(' ')}` : '';

const allowedFor = (perms: readonly string[], a: Action) => a.needs.every((p) => perms.includes(p));

t.test('the table names every route under /v1/orgs/{org} (a new route must be added to it)', async (t) => {
  const tabled = new Set(ACTIONS.map((a) => key(a.method, a.path)));
  const missing = routes.filter((r) => !tabled.has(key(r.method, r.path))).map((r) => key(r.method, r.path));
  t.same(missing, [], 'every org route has a row in the table');
  t.ok(active.length >= 14, `the org routes are found (${active.length})`);
});

t.test('the matrix derived from the presets is the reviewed one', async (t) => {
  for (const [preset, roles] of Object.entries(ROLE_PRESETS)) {
    t.same(Object.keys(roles).sort(), Object.keys(REVIEWED[preset]!).sort(), `${preset}: every role is reviewed`);
    for (const [role, spec] of Object.entries(roles)) {
      const derived = ACTIONS.filter((a) => allowedFor(spec.permissions, a)).map((a) => a.id);
      t.same(derived, REVIEWED[preset]![role], `${preset}/${role}`);
    }
  }
});

for (const [preset, roles] of Object.entries(ROLE_PRESETS) as Array<
  [keyof typeof ROLE_PRESETS, Record<string, { permissions: readonly string[] }>]
>) {
  for (const [role, spec] of Object.entries(roles)) {
    t.test(`${preset}/${role}`, async (t) => {
      const { owner, org } = await orgWithOwner(ctx, preset, `Matrix ${preset} ${role}`);
      await customRole(ctx, org.id, 'badge');
      await customRole(ctx, org.id, 'badge_b');
      const actor = role === 'owner' ? (await relogin(ctx, owner, org.id)).auth : (await member(ctx, org.id, [role], `Role ${role}`)).auth;
      const env: Env = { ctx, orgId: org.id, actor };
      for (const action of active) {
        const { ids = {}, body } = (await action.prepare?.(env)) ?? {};
        const url = fillPath(action.path, { org: org.id, ...ids });
        const res = await call(ctx, action.method, url, actor, body);
        const label = `${action.id} (${key(action.method, action.path)})`;
        if (allowedFor(spec.permissions, action)) {
          t.equal(res.statusCode, action.ok, `${label}: allowed (${res.body.slice(0, 200)}${serverLog(res)})`);
        } else {
          const problem = assertProblem(t, res, 403, 'PERMISSION_DENIED', `${label}: refused`);
          t.same(
            problem.missing,
            action.needs.filter((p) => !spec.permissions.includes(p)),
            `${label}: names the missing permission`,
          );
        }
      }
    });
  }
}

t.test('deleting an org needs a recent authentication, even for an Owner; the permission is checked first', async (t) => {
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Stale Login Org');
  const { auth, tokens } = await relogin(ctx, owner, org.id);
  const admin = await member(ctx, org.id, ['admin']);
  await ctx.db
    .updateTable('sessions')
    .set({ auth_at: new Date(Date.now() - 3_600_000) })
    .where('id', 'in', [tokens.session_id, admin.tokens.session_id])
    .execute();
  assertProblem(t, await call(ctx, 'DELETE', `/v1/orgs/${org.id}`, admin.auth), 403, 'PERMISSION_DENIED', 'an Admin: the permission');
  assertProblem(t, await call(ctx, 'DELETE', `/v1/orgs/${org.id}`, auth), 403, 'REAUTHENTICATION_REQUIRED', 'an Owner an hour after login');
  t.ok(await ctx.db.selectFrom('orgs').select('id').where('id', '=', org.id).executeTakeFirst(), 'the org is still there');
});
