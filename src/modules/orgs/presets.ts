import { randomUUID } from 'node:crypto';
import { ALL_PERMISSIONS, type Permission } from '../../shared/permissions.js';
import type { RolePreset } from '../../infra/db/schema.js';

export type RoleSpec = { name: string; description: string; permissions: readonly Permission[] };

/** The one role only an Owner grants, and of which an org always keeps one holder. */
export const OWNER_ROLE = 'owner';

const everything = ALL_PERMISSIONS;
// Admin: every feature but billing and ownership (deleting the org goes with ownership).
const allBut = (...excluded: Permission[]) => everything.filter((p) => !excluded.includes(p));

/**
 * The role presets an org chooses at creation, as data: role key → name, description, permissions.
 * Their roles are copied into the org as builtin rows (not editable); custom roles sit beside them.
 */
export const ROLE_PRESETS = {
  compliance: {
    owner: { name: 'Owner', description: 'Everything, including billing and deleting the organization', permissions: everything },
    admin: { name: 'Admin', description: 'Every feature but billing and ownership', permissions: allBut('billing:manage', 'org:delete') },
    business_owner: {
      name: 'Business Owner',
      description: 'Oversight and reports',
      permissions: ['members:read', 'reports:read', 'audit:read', 'compliance:read'],
    },
    dpo: {
      name: 'Data Protection Officer',
      description: 'Compliance management and audit access',
      permissions: ['compliance:manage', 'compliance:read', 'processing:manage', 'audit:read', 'reports:read', 'members:read'],
    },
    data_controller: {
      name: 'Data Controller',
      description: 'Processing activities and their legal bases',
      permissions: ['processing:manage', 'compliance:read', 'reports:read'],
    },
    developer: {
      name: 'Developer',
      description: 'API access and integrations: personal access tokens, webhooks and token introspection for services',
      permissions: ['api:manage', 'webhooks:manage', 'tokens:introspect'],
    },
    auditor: {
      name: 'Auditor/Regulator',
      description: 'Read-only compliance and audit',
      permissions: ['compliance:read', 'audit:read', 'reports:read'],
    },
    agency_reseller: {
      name: 'Agency Reseller',
      description: 'Manages client organizations, acting in them with the permissions granted to the agency',
      permissions: ['clients:manage', 'reports:read'],
    },
  },
  crm: {
    owner: { name: 'Owner', description: 'Everything, including billing and deleting the organization', permissions: everything },
    manager: {
      name: 'Manager',
      description: 'Team configuration, members, reports, customers and orders; not billing',
      permissions: [
        'members:read',
        'members:invite',
        'members:manage',
        'roles:manage',
        'sessions:manage',
        'reports:read',
        'customers:read',
        'customers:write',
        'customers:assigned',
        'orders:write',
      ],
    },
    staff: {
      name: 'Staff',
      description: 'Assigned customers and read-only reports; no team management',
      permissions: ['customers:assigned', 'reports:read'],
    },
  },
} as const satisfies Record<RolePreset, Record<string, RoleSpec>>;

export const ROLE_PRESET_NAMES = Object.keys(ROLE_PRESETS) as RolePreset[];

/** What an agency may do in a client org unless it says otherwise: the client's Admin, less clients:manage. */
export const DEFAULT_AGENCY_PERMISSIONS: readonly Permission[] = allBut('billing:manage', 'org:delete', 'clients:manage');

/** A new org's roles: its preset's, as builtin rows. */
export function presetRoles(orgId: string, preset: RolePreset) {
  return Object.entries(ROLE_PRESETS[preset] as Record<string, RoleSpec>).map(([key, spec]) => ({
    id: randomUUID(),
    org_id: orgId,
    key,
    name: spec.name,
    description: spec.description,
    permissions: [...spec.permissions],
    builtin: true,
  }));
}
