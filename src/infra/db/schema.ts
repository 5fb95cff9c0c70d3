import type { ColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export interface UsersTable {
  id: string;
  email: string;
  email_normalized: string;
  email_verified_at: NullableTimestamp;
  password_hash: string;
  name: string;
  locale: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** Has a confirmed second factor (kept by mfa with its factors; for display, never for a decision). */
  mfa_enabled: ColumnType<boolean, boolean | undefined, boolean>;
  /** Runs the service: may hold an operator token (scope admin) for /v1/admin/*; the pats module reads it on every use. */
  is_operator: ColumnType<boolean, boolean | undefined, boolean>;
}

export interface EmailTokensTable {
  token_hash: Buffer;
  user_id: string;
  purpose: 'verify_email' | 'reset_password';
  email: string;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
  created_at: Timestamp;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  org_id: string | null;
  aal: number;
  amr: string[];
  created_at: Timestamp;
  last_seen_at: Timestamp;
  expires_at: Timestamp;
  idle_ttl_seconds: number | null;
  ip: string | null;
  user_agent: string | null;
  revoked_at: NullableTimestamp;
  revoked_reason: string | null;
  /** The last time the session proved who is behind it (login, reauthentication), and at which level. */
  auth_at: Timestamp;
  auth_aal: ColumnType<number, number | undefined, number>;
  /** What proved the second factor at login (null: the password alone). */
  auth_method: string | null;
}

export interface RefreshTokensTable {
  token_hash: Buffer;
  session_id: string;
  created_at: Timestamp;
  used_at: NullableTimestamp;
  successor_enc: string | null;
  /** The client that spent it (IP and user agent), the only one its grace retry is answered for. */
  spent_ip: string | null;
  spent_user_agent: string | null;
  /** When the one grace retry was answered. */
  replayed_at: NullableTimestamp;
}

export type RevocationKind = 'session' | 'pat' | 'user_not_before' | 'org_member_not_before';

/** Revocations, independent of the rows they revoke (no foreign keys); id is the feed's cursor. */
export interface RevocationsTable {
  id: ColumnType<string, never, never>;
  kind: RevocationKind;
  session_id: string | null;
  user_id: string | null;
  org_id: string | null;
  pat_id: string | null;
  not_before: NullableTimestamp;
  reason: string | null;
  revoked_at: Timestamp;
  expires_at: Timestamp;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  public_jwk: ColumnType<Record<string, unknown>, string, string>;
  private_enc: string;
  created_at: Timestamp;
  /** Signs from this moment on; published in the JWKS from its creation. */
  activates_at: Timestamp;
  /** Signs no more from this moment on (may lie ahead: set when the successor is scheduled). */
  retired_at: NullableTimestamp;
}

export interface AuditEventsTable {
  seq: ColumnType<string, string | number, never>;
  id: string;
  occurred_at: Timestamp;
  org_id: string | null;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  user_agent: string | null;
  data: ColumnType<Record<string, unknown>, string, string>;
  prev_hash: Buffer;
  hash: Buffer;
}

export type FactorKind = 'totp' | 'sms' | 'webauthn';

export interface MfaFactorsTable {
  id: string;
  user_id: string;
  kind: FactorKind;
  name: string;
  secret_enc: string | null;
  last_used_step: ColumnType<string | null, number | string | null | undefined, number | string | null>;
  credential_id: Buffer | null;
  public_key: Buffer | null;
  sign_count: ColumnType<string | null, number | string | null | undefined, number | string | null>;
  transports: string[] | null;
  passkey: ColumnType<boolean, boolean | undefined, boolean>;
  device_type: string | null;
  backed_up: boolean | null;
  aaguid: string | null;
  /** A pending TOTP or SMS set-up: the session that started it, the only one that may confirm it. */
  enrol_session_id: string | null;
  /** A pending TOTP set-up: wrong confirm codes so far. */
  enrol_failures: ColumnType<number, number | undefined, number>;
  confirmed_at: NullableTimestamp;
  created_at: Timestamp;
  last_used_at: NullableTimestamp;
}

export interface MfaBackupCodesTable {
  user_id: string;
  code_hash: Buffer;
  used_at: NullableTimestamp;
  created_at: Timestamp;
}

export type OrgPlan = 'starter' | 'professional' | 'enterprise';
export type RolePreset = 'compliance' | 'crm';

export interface OrgsTable {
  id: string;
  name: string;
  slug: string;
  plan: ColumnType<OrgPlan, OrgPlan | undefined, OrgPlan>;
  role_preset: RolePreset;
  security_policy: ColumnType<Record<string, unknown>, string | undefined, string>;
  mfa_required_since: NullableTimestamp;
  managed_by: string | null;
  agency_permissions: ColumnType<string[], string[] | undefined, string[]>;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface OrgRolesTable {
  id: string;
  org_id: string;
  key: string;
  name: string;
  description: ColumnType<string, string | undefined, string>;
  permissions: string[];
  builtin: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface OrgMembersTable {
  org_id: string;
  user_id: string;
  joined_at: Timestamp;
  roles_changed_at: Timestamp;
}

export interface OrgMemberRolesTable {
  org_id: string;
  user_id: string;
  role_id: string;
}

export interface OrgInvitationsTable {
  id: string;
  org_id: string;
  email: string;
  email_normalized: string;
  name: string;
  roles: string[];
  token_hash: Buffer;
  invited_by: string | null;
  expires_at: Timestamp;
  sent_at: Timestamp;
  accepted_at: NullableTimestamp;
  accepted_by: string | null;
  revoked_at: NullableTimestamp;
  created_at: Timestamp;
}

/** Personal access tokens: only the secret's SHA-256 is stored. org_id is null only for operator tokens (scopes ['admin']). */
export interface PatsTable {
  id: string;
  user_id: string;
  org_id: string | null;
  name: string;
  prefix: string;
  token_hash: Buffer;
  scopes: string[];
  created_at: Timestamp;
  expires_at: Timestamp;
  last_used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
  revoked_reason: string | null;
}

export interface Database {
  users: UsersTable;
  email_tokens: EmailTokensTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  revocations: RevocationsTable;
  signing_keys: SigningKeysTable;
  audit_events: AuditEventsTable;
  mfa_factors: MfaFactorsTable;
  mfa_backup_codes: MfaBackupCodesTable;
  orgs: OrgsTable;
  org_roles: OrgRolesTable;
  org_members: OrgMembersTable;
  org_member_roles: OrgMemberRolesTable;
  org_invitations: OrgInvitationsTable;
  pats: PatsTable;
}
