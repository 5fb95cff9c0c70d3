import { defineErrors } from '../../shared/errors.js';

/** The organizations module's codes (members, roles, policy, invitations, clients). */
export const orgError = defineErrors({
  // Not a member (and no agency access): the org is not shown to exist.
  ORG_NOT_FOUND: [404, 'Organization not found'],
  // Asking for a token for an org one does not belong to (login, refresh, passkey).
  ORG_ACCESS_DENIED: [403, 'Not a member of the organization'],
  // The org requires a second factor and this session has none (past the enrolment grace period).
  ORG_MFA_REQUIRED: [403, 'The organization requires two-step authentication'],
  // An org's routes take an access token issued for that org (login or refresh with its org_id).
  ORG_TOKEN_REQUIRED: [403, 'An access token for this organization is required'],
  // Passkey login to an org whose policy does not allow WebAuthn.
  ORG_FACTOR_NOT_ALLOWED: [403, 'The organization does not allow this factor'],
  EMAIL_NOT_VERIFIED: [403, 'Email address not verified'],
  MEMBER_NOT_FOUND: [404, 'Member not found'],
  ROLE_NOT_FOUND: [404, 'Role not found'],
  ROLE_UNKNOWN: [422, 'Unknown role'],
  ROLE_EXISTS: [409, 'Role already exists'],
  ROLE_IN_USE: [409, 'Role still held by members'],
  ROLE_BUILTIN: [409, 'Preset roles cannot be changed'],
  // Nobody grants (or takes away) what they do not hold themselves.
  ESCALATION_DENIED: [403, 'Cannot grant permissions you do not hold'],
  // Only an Owner grants or removes Owner, or changes or removes an Owner.
  OWNER_REQUIRED: [403, 'Only an Owner can do this'],
  // The last Owner cannot leave, be removed or demoted; an account that is some org's last Owner cannot be deleted.
  LAST_OWNER: [409, 'The organization needs an Owner'],
  // Turning on a policy the actor's own account does not meet would lock them out.
  POLICY_LOCKOUT: [409, 'The policy would lock you out'],
  INVITATION_INVALID: [400, 'Invalid or expired invitation'],
  INVITATION_NOT_FOUND: [404, 'Invitation not found'],
  INVITATION_PENDING: [409, 'An invitation to this address is already pending'],
  ALREADY_MEMBER: [409, 'Already a member'],
  // The invitation is for an existing account: log in as it (or give its password) to accept.
  INVITATION_LOGIN_REQUIRED: [401, 'Log in as the invited account'],
  INVITATION_EMAIL_MISMATCH: [403, 'The invitation is for another address'],
  NOT_AN_AGENCY: [403, 'This organization cannot manage clients'],
} as const);
