import { z } from 'zod';
import { displayName, email, password, uuid } from '../../http/schemas.js';
import { ALL_PERMISSIONS } from '../../shared/permissions.js';
import { securityPolicy, securityPolicyPatch } from './policy.js';
import { sessionRow } from '../sessions/index.js';
import { ROLE_PRESET_NAMES } from './presets.js';

const permission = z.enum(ALL_PERMISSIONS as [string, ...string[]]);
const roleKey = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'Must be a role key: lower-case letters, digits, _ and -');
const preset = z.enum(ROLE_PRESET_NAMES as ['compliance', 'crm']);
const plan = z.enum(['starter', 'professional', 'enterprise']);

export const orgParams = z.strictObject({ org: uuid });
export const memberParams = z.strictObject({ org: uuid, user: uuid });
export const roleParams = z.strictObject({ org: uuid, role: roleKey });

export const createOrgBody = z.strictObject({ name: displayName, role_preset: preset.default('compliance') });
export const updateOrgBody = z
  .strictObject({ name: displayName.optional(), security_policy: securityPolicyPatch.optional() })
  .refine((b) => b.name !== undefined || b.security_policy !== undefined, 'Give name or security_policy');

export const orgView = z.object({
  id: z.string(),
  name: z.string(),
  slug: z.string(),
  plan,
  role_preset: preset,
  security_policy: securityPolicy,
  managed_by: z.string().nullable(),
  created_at: z.string(),
  your_roles: z.array(z.string()).optional(),
  your_permissions: z.array(z.string()).optional(),
  // The agency through which the caller acts here (null: a member).
  acting_for: z.string().nullable().optional(),
});

export const orgList = z.object({
  orgs: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      slug: z.string(),
      plan,
      role_preset: preset,
      managed_by: z.string().nullable(),
      roles: z.array(z.string()),
      joined_at: z.string(),
    }),
  ),
});

export const memberList = z.object({
  members: z.array(
    z.object({
      user_id: z.string(),
      name: z.string(),
      email: z.string(),
      roles: z.array(z.string()),
      joined_at: z.string(),
      last_login_at: z.string().nullable(),
      mfa_enabled: z.boolean(),
      meets_policy: z.boolean(),
    }),
  ),
});

export const setRolesBody = z.strictObject({ roles: z.array(roleKey).min(1).max(20) });
export const memberRoles = z.object({ user_id: z.string(), roles: z.array(z.string()) });

// A member's sessions as an admin sees them: the session list's rows, without the caller's own markers.
export const memberSessions = z.object({ sessions: z.array(sessionRow.omit({ current: true, roles: true })) });
/** A member signed out of the org by an admin: sessions ended, and personal access tokens of the org revoked. */
export const memberSignedOut = z.object({ revoked: z.number().int(), tokens_revoked: z.number().int() });

export const roleView = z.object({
  key: z.string(),
  name: z.string(),
  description: z.string(),
  permissions: z.array(z.string()),
  builtin: z.boolean(),
  members: z.number().int().optional(),
});
export const roleList = z.object({
  roles: z.array(roleView),
  // The permission catalogue, with descriptions, for a role editor.
  permissions: z.array(z.object({ permission: z.string(), description: z.string() })),
});
const description = z.string().trim().max(500);
export const createRoleBody = z.strictObject({
  key: roleKey.optional(),
  name: displayName,
  description: description.optional(),
  permissions: z.array(permission).max(ALL_PERMISSIONS.length),
});
export const updateRoleBody = z
  .strictObject({
    name: displayName.optional(),
    description: description.optional(),
    permissions: z.array(permission).max(ALL_PERMISSIONS.length).optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'Give at least one field');

export const createClientBody = z.strictObject({
  name: displayName,
  role_preset: preset.default('compliance'),
  // What the agency's actors may do in the client; by default the client's Admin less clients:manage.
  permissions: z.array(permission).optional(),
});
export const clientView = orgView.extend({ agency_permissions: z.array(z.string()) });
export const clientList = z.object({ clients: z.array(clientView) });

// Invitations.
export const invitationParams = z.strictObject({ org: uuid, id: uuid });
export const createInvitationBody = z.strictObject({ name: displayName, email, roles: z.array(roleKey).min(1).max(20) });
export const invitationView = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  roles: z.array(z.string()),
  // The inviter's account id (null once that account is deleted: the invitation still works).
  invited_by: z.string().nullable(),
  expires_at: z.string(),
  created_at: z.string(),
  status: z.enum(['pending', 'accepted', 'revoked', 'expired']),
});
export const invitationList = z.object({ invitations: z.array(invitationView) });
// The emailed link's token (randomToken: 43 base64url characters).
const invitationToken = z.string().min(1).max(256);
export const invitationTokenBody = z.strictObject({ token: invitationToken });
// Strict: the roles are the invitation's, never the caller's (a `roles` field is refused).
export const acceptInvitationBody = z.strictObject({ token: invitationToken, name: displayName.optional(), password: password.optional() });
export const invitationPreview = z.object({
  org: z.object({ id: z.string(), name: z.string() }),
  email: z.string(),
  name: z.string(),
  roles: z.array(z.string()),
  expires_at: z.string(),
  // Whether the address has an account: log in (or give its password) to accept, or create one.
  account_exists: z.boolean(),
});
export const invitationAccepted = z.object({
  org_id: z.string(),
  user_id: z.string(),
  roles: z.array(z.string()),
  account_created: z.boolean(),
});
