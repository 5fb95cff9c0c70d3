import { randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { createVerifiedUser, login, type TestApp } from './app.js';

export type Auth = { authorization: string };
export type Person = {
  id: string;
  email: string;
  password: string;
  auth: Auth;
  tokens: { access_token: string; refresh_token: string; session_id: string };
};

export const claimsOf = (token: string) =>
  decodeJwt(token) as Record<string, unknown> & { roles: string[]; permissions: string[]; org_id: string | null };
export const bearer = (token: string): Auth => ({ authorization: `Bearer ${token}` });

/** A verified user, logged in (with `org_id` when given). */
export async function person(ctx: TestApp, opts: { name?: string; orgId?: string } = {}): Promise<Person> {
  const user = await createVerifiedUser(ctx, { name: opts.name ?? 'Org Person' });
  const row = await ctx.db.selectFrom('users').select('id').where('email', '=', user.email).executeTakeFirstOrThrow();
  const { res, body } = await login(ctx, user.email, user.password, opts.orgId ? { org_id: opts.orgId } : {});
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.body}`);
  return { ...user, id: row.id, tokens: body, auth: bearer(body.access_token) };
}

/** Logs an existing person in again (for an org, when given); the new tokens. */
export async function relogin(ctx: TestApp, who: Pick<Person, 'email' | 'password'>, orgId?: string) {
  const { res, body } = await login(ctx, who.email, who.password, orgId ? { org_id: orgId } : {});
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.body}`);
  return { tokens: body as Person['tokens'], auth: bearer(body.access_token) };
}

/** A new org through the API, and its Owner. */
export async function orgWithOwner(ctx: TestApp, preset: 'compliance' | 'crm' = 'compliance', name = 'Acme Compliance') {
  const owner = await person(ctx, { name: 'Olive Owner' });
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/orgs', headers: owner.auth, payload: { name, role_preset: preset } });
  if (res.statusCode !== 201) throw new Error(`org creation failed: ${res.body}`);
  const org = res.json() as { id: string; slug: string };
  // The org's routes take a token for the org: the Owner switches to it (same session).
  const switched = await refresh(ctx, owner.tokens.refresh_token, { org_id: org.id });
  if (switched.statusCode !== 200) throw new Error(`switch to the org failed: ${switched.body}`);
  const tokens = switched.json() as Person['tokens'];
  return { owner: { ...owner, tokens, auth: bearer(tokens.access_token) }, org };
}

/**
 * Test set-up: makes a user a member with these roles straight in the database (the invitation
 * flow has tests of its own; set-ups should not depend on it).
 */
export async function joinOrg(ctx: TestApp, orgId: string, userId: string, roleKeys: string[], joinedAt?: Date) {
  await ctx.db
    .insertInto('org_members')
    .values({ org_id: orgId, user_id: userId, ...(joinedAt ? { joined_at: joinedAt, roles_changed_at: joinedAt } : {}) })
    .execute();
  if (roleKeys.length === 0) return;
  const roles = await ctx.db.selectFrom('org_roles').select('id').where('org_id', '=', orgId).where('key', 'in', roleKeys).execute();
  if (roles.length !== roleKeys.length) throw new Error(`unknown roles among ${roleKeys.join(', ')}`);
  await ctx.db
    .insertInto('org_member_roles')
    .values(roles.map((r) => ({ org_id: orgId, user_id: userId, role_id: r.id })))
    .execute();
}

/** A verified member of the org with these roles, logged in for the org. */
export async function member(ctx: TestApp, orgId: string, roleKeys: string[], name = 'Mia Member') {
  const p = await person(ctx, { name });
  await joinOrg(ctx, orgId, p.id, roleKeys);
  const { tokens, auth } = await relogin(ctx, p, orgId);
  return { ...p, tokens, auth };
}

export function refresh(ctx: TestApp, refreshToken: string, extra: Record<string, unknown> = {}) {
  return ctx.app.inject({
    method: 'POST',
    url: '/v1/token',
    payload: { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra },
  });
}

// ---- The organization security suites (permission matrix, escalation, tenant isolation, races) ----

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** One request as a user would send it (no payload for GET and bodiless routes). */
export function call(ctx: TestApp, method: Method, url: string, headers: Auth, payload?: unknown) {
  return ctx.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
}

/**
 * A verified account straight in the database (never logged in): a target for actions that need
 * no token of theirs (a member to remove, to re-role). Cheaper than signing up.
 */
export async function quietUser(ctx: TestApp, name = 'Quinn Target'): Promise<{ id: string; email: string }> {
  const id = randomUUID();
  const email = `quiet-${id.slice(0, 8)}@example.com`;
  await ctx.db
    .insertInto('users')
    .values({ id, email, email_normalized: email, password_hash: 'not-a-hash', name, email_verified_at: new Date() })
    .execute();
  return { id, email };
}

/** A custom role straight in the database (not builtin). */
export async function customRole(ctx: TestApp, orgId: string, key: string, permissions: string[] = []) {
  await ctx.db
    .insertInto('org_roles')
    .values({ id: randomUUID(), org_id: orgId, key, name: `Custom ${key}`, description: '', permissions, builtin: false })
    .execute();
  return key;
}

/** A member's role keys as stored (sorted), or null when they are not a member. */
export async function storedRoles(ctx: TestApp, orgId: string, userId: string): Promise<string[] | null> {
  const m = await ctx.db
    .selectFrom('org_members')
    .select('user_id')
    .where('org_id', '=', orgId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  if (!m) return null;
  const rows = await ctx.db
    .selectFrom('org_member_roles as mr')
    .innerJoin('org_roles as r', 'r.id', 'mr.role_id')
    .select('r.key')
    .where('mr.org_id', '=', orgId)
    .where('mr.user_id', '=', userId)
    .execute();
  return rows.map((r) => r.key).sort();
}

/** The user ids holding Owner in the org (sorted). */
export async function ownersOf(ctx: TestApp, orgId: string): Promise<string[]> {
  const rows = await ctx.db
    .selectFrom('org_member_roles as mr')
    .innerJoin('org_roles as r', 'r.id', 'mr.role_id')
    .select('mr.user_id')
    .where('mr.org_id', '=', orgId)
    .where('r.key', '=', 'owner')
    .execute();
  return rows.map((r) => r.user_id).sort();
}

/** An open invitation straight in the database (the invitation flow has its own tests). */
export async function invitationRow(ctx: TestApp, orgId: string, roles: string[] = ['auditor'], invitedBy: string | null = null) {
  const id = randomUUID();
  const email = `invitee-${id.slice(0, 8)}@example.com`;
  await ctx.db
    .insertInto('org_invitations')
    .values({
      id,
      org_id: orgId,
      email,
      email_normalized: email,
      name: 'Ivy Invitee',
      roles,
      token_hash: randomBytes(32),
      invited_by: invitedBy,
      expires_at: new Date(Date.now() + 7 * 86_400_000),
    })
    .execute();
  return { id, email };
}

/**
 * Everything of an org a foreign request could change, as stored: the org row, its roles, its
 * members and their roles, its invitations, its clients, and its members' sessions (with their
 * revocation). Two snapshots compare with t.same.
 */
export async function orgSnapshot(ctx: TestApp, orgId: string) {
  const org = await ctx.db.selectFrom('orgs').selectAll().where('id', '=', orgId).executeTakeFirst();
  const roles = await ctx.db
    .selectFrom('org_roles')
    .select(['key', 'name', 'description', 'permissions', 'builtin', 'updated_at'])
    .where('org_id', '=', orgId)
    .orderBy('key')
    .execute();
  const members = await ctx.db
    .selectFrom('org_members')
    .select(['user_id', 'joined_at', 'roles_changed_at'])
    .where('org_id', '=', orgId)
    .orderBy('user_id')
    .execute();
  const memberRoles = await Promise.all(members.map(async (m) => ({ ...m, roles: await storedRoles(ctx, orgId, m.user_id) })));
  const invitations = await ctx.db.selectFrom('org_invitations').selectAll().where('org_id', '=', orgId).orderBy('id').execute();
  const clients = await ctx.db
    .selectFrom('orgs')
    .select(['id', 'name', 'agency_permissions'])
    .where('managed_by', '=', orgId)
    .orderBy('id')
    .execute();
  const ids = members.map((m) => m.user_id);
  const sessions = ids.length
    ? await ctx.db
        .selectFrom('sessions')
        .select(['id', 'user_id', 'org_id', 'revoked_at'])
        .where('user_id', 'in', ids)
        .orderBy('id')
        .execute()
    : [];
  return { org, roles, members: memberRoles, invitations, clients, sessions };
}

/**
 * The app's routes under /v1/orgs/{org} (the org itself included), from its OpenAPI document:
 * method and templated path, e.g. { method: 'PATCH', path: '/v1/orgs/{org}/members/{user}' }.
 */
export function orgScopedRoutes(app: TestApp['app']): Array<{ method: Method; path: string }> {
  const doc = app.swagger() as unknown as { paths: Record<string, Record<string, unknown>> };
  const out: Array<{ method: Method; path: string }> = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    if (path !== '/v1/orgs/{org}' && !path.startsWith('/v1/orgs/{org}/')) continue;
    for (const method of Object.keys(methods)) out.push({ method: method.toUpperCase() as Method, path });
  }
  return out.sort((a, b) => `${a.path} ${a.method}`.localeCompare(`${b.path} ${b.method}`));
}

/** A templated path with its parameters filled in ({org} → ids.org, ...); throws on a parameter it has no value for. */
export function fillPath(path: string, ids: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = ids[name];
    if (value === undefined) throw new Error(`no value for {${name}} in ${path}`);
    return value;
  });
}

/** Switches a session to an org (a refresh with its org_id): the tokens and the bearer header for the org's routes. */
export async function switchTo(ctx: TestApp, tokens: { refresh_token: string }, orgId: string | null) {
  const res = await refresh(ctx, tokens.refresh_token, { org_id: orgId });
  if (res.statusCode !== 200) throw new Error(`switch to ${orgId} failed: ${res.body}`);
  const next = res.json() as Person['tokens'];
  // The caller's object keeps working: its refresh token is the successor now.
  Object.assign(tokens, next);
  return bearer(next.access_token);
}

/** An agency org (its Owner, with a token for it), a reseller (clients:manage) and a client org the reseller created. */
export async function agencyWithClient(ctx: TestApp) {
  const { owner, org: agency } = await orgWithOwner(ctx, 'compliance', 'Agency One');
  const { auth: ownerAuth } = await relogin(ctx, owner, agency.id);
  const reseller = await member(ctx, agency.id, ['agency_reseller'], 'Rita Reseller');
  const created = await ctx.app.inject({
    method: 'POST',
    url: `/v1/orgs/${agency.id}/clients`,
    headers: reseller.auth,
    payload: { name: 'Client Co', role_preset: 'crm' },
  });
  if (created.statusCode !== 201) throw new Error(`client creation failed: ${created.body}`);
  return {
    owner: { ...owner, auth: ownerAuth },
    agency,
    reseller,
    client: created.json() as { id: string; managed_by: string; agency_permissions: string[] },
  };
}
