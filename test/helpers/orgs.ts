import { decodeJwt } from 'jose';
import { createVerifiedUser, login, type TestApp } from './app.js';

export type Auth = { authorization: string };
export type Person = { id: string; email: string; password: string; auth: Auth; tokens: { access_token: string; refresh_token: string; session_id: string } };

export const claimsOf = (token: string) => decodeJwt(token) as Record<string, unknown> & { roles: string[]; permissions: string[]; org_id: string | null };
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
  return { owner, org };
}

/**
 * Test set-up: makes a user a member with these roles straight in the database (the invitation
 * flow has tests of its own; set-ups should not depend on it).
 */
export async function joinOrg(ctx: TestApp, orgId: string, userId: string, roleKeys: string[]) {
  await ctx.db.insertInto('org_members').values({ org_id: orgId, user_id: userId }).execute();
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
  return ctx.app.inject({ method: 'POST', url: '/v1/token', payload: { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra } });
}
