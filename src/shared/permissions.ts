/**
 * The permission catalogue: every permission Tessera knows, with a description a UI can show.
 * Tessera enforces the first group itself; the second it carries in tokens for the services
 * that use them. Roles (src/modules/orgs/presets.ts and custom roles) are sets of these strings.
 */
export const PERMISSIONS = {
  // Enforced by Tessera.
  'org:manage': 'Rename the organization and change its security policy',
  'org:delete': 'Delete the organization',
  'billing:manage': 'Change the plan and billing details',
  'members:read': 'See the team: members, their roles, last login and MFA status',
  'members:invite': 'Invite people to the organization',
  'members:manage': 'Change members\u2019 roles and remove members',
  'roles:manage': 'Create, edit and delete custom roles',
  'sessions:manage': 'See and revoke members\u2019 sessions',
  'api:manage': 'See and revoke the organization\u2019s personal access tokens',
  'webhooks:manage': 'Create and delete webhooks and see their deliveries',
  'audit:read': 'Read and verify the organization\u2019s audit trail',
  'clients:manage': 'Create and manage client organizations (agencies)',
  'tokens:introspect': 'Introspect tokens and check permissions as a service',
  // Carried in tokens for the products' own services.
  'compliance:manage': 'Manage compliance programmes, policies and assessments',
  'compliance:read': 'Read compliance programmes, policies and assessments',
  'processing:manage': 'Manage processing activities and their legal bases',
  'reports:read': 'Read reports',
  'customers:read': 'See customers',
  'customers:assigned': 'Work on the customers assigned to them',
  'customers:write': 'Create and edit customers',
  'orders:write': 'Create and edit orders',
} as const satisfies Record<string, string>;

export type Permission = keyof typeof PERMISSIONS;

export const ALL_PERMISSIONS = Object.keys(PERMISSIONS) as Permission[];

export function isPermission(value: string): value is Permission {
  return Object.hasOwn(PERMISSIONS, value);
}

/**
 * The one permission check: Tessera's own guard and the authorization endpoint for services
 * both call it, so they can never disagree.
 */
export function hasPermissions(granted: readonly string[], required: readonly Permission[]): { allowed: boolean; missing: Permission[] } {
  const have = new Set(granted);
  const missing = required.filter((p) => !have.has(p));
  return { allowed: missing.length === 0, missing };
}
