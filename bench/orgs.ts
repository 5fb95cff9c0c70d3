/**
 * The org scenarios' setup: one org with the compliance preset's roles, every seeded user a member
 * (an Admin, so the token carries a long permission list), written straight to the database as
 * the orgs module would.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from '../src/infra/db/connect.js';
import { presetRoles, type ROLE_PRESETS } from '../src/modules/orgs/presets.js';

export async function seedOrg(db: Db, emails: string[], roleKey: keyof (typeof ROLE_PRESETS)['compliance'] = 'admin'): Promise<string> {
  const orgId = randomUUID();
  await db
    .insertInto('orgs')
    .values({ id: orgId, name: 'Bench Org', slug: `bench-${orgId.slice(0, 8)}`, role_preset: 'compliance' })
    .execute();
  const roles = presetRoles(orgId, 'compliance');
  await db.insertInto('org_roles').values(roles).execute();
  const role = roles.find((r) => r.key === roleKey)!;
  const users = await db.selectFrom('users').select('id').where('email', 'in', emails).execute();
  // Joined a minute ago: no token of the bench is issued in a member's first second.
  const joined = new Date(Date.now() - 60_000);
  await db
    .insertInto('org_members')
    .values(users.map((u) => ({ org_id: orgId, user_id: u.id, joined_at: joined, roles_changed_at: joined })))
    .execute();
  await db
    .insertInto('org_member_roles')
    .values(users.map((u) => ({ org_id: orgId, user_id: u.id, role_id: role.id })))
    .execute();
  return orgId;
}
