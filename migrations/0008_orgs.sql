-- What proved a session's second factor (totp, backup_code, sms, webauthn; null: the password
-- alone): an org that allows only some factors refuses the sessions proved with others.
alter table sessions add column auth_method text;

-- Organizations: the org, its roles (the preset's, kept as rows so a member's roles are foreign
-- keys, and custom ones), its members and their roles, invitations, and agency clients.
create table orgs (
  id uuid primary key,
  name text not null,
  slug text not null unique,
  plan text not null default 'starter' check (plan in ('starter', 'professional', 'enterprise')),
  role_preset text not null check (role_preset in ('compliance', 'crm')),
  -- {require_mfa, allowed_factors, enrollment_grace_days, session_absolute_ttl, session_idle_ttl}
  security_policy jsonb not null default '{}',
  -- When require_mfa was last switched on: a member's grace period runs from the later of this
  -- and their joining, so turning the switch on gives everyone the grace period.
  mfa_required_since timestamptz,
  -- Agency clients: the agency that manages this org, and the permissions its members who hold
  -- clients:manage there have here (without being members).
  managed_by uuid references orgs (id) on delete set null,
  agency_permissions text[] not null default '{}',
  created_by uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index orgs_managed_by on orgs (managed_by) where managed_by is not null;

create table org_roles (
  id uuid primary key,
  org_id uuid not null references orgs (id) on delete cascade,
  -- Stable name in tokens ("owner", "admin", or a custom role's slug).
  key text not null check (key ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  name text not null,
  description text not null default '',
  permissions text[] not null,
  -- The preset's roles: their permissions are the preset's, not editable.
  builtin boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, key)
);

create table org_members (
  org_id uuid not null references orgs (id) on delete cascade,
  user_id uuid not null references users (id) on delete cascade,
  joined_at timestamptz not null default now(),
  -- The last change of this member's roles (or of a role they hold): access tokens for the org
  -- issued before it are refused, and new ones are issued no earlier.
  roles_changed_at timestamptz not null default now(),
  primary key (org_id, user_id)
);
create index org_members_user on org_members (user_id);

create table org_member_roles (
  org_id uuid not null,
  user_id uuid not null,
  -- No action (checked at the end of the statement): a role still held cannot be deleted, while
  -- deleting the org or the account takes the member's roles with it.
  role_id uuid not null references org_roles (id),
  primary key (org_id, user_id, role_id),
  foreign key (org_id, user_id) references org_members (org_id, user_id) on delete cascade
);
create index org_member_roles_role on org_member_roles (role_id);

create table org_invitations (
  id uuid primary key,
  org_id uuid not null references orgs (id) on delete cascade,
  email text not null,
  email_normalized text not null,
  name text not null,
  -- Role keys chosen by the inviter (checked against the inviter's permissions when sent and
  -- against the org's roles when accepted).
  roles text[] not null,
  token_hash bytea not null unique,
  invited_by uuid references users (id) on delete set null,
  expires_at timestamptz not null,
  sent_at timestamptz not null default now(),
  accepted_at timestamptz,
  accepted_by uuid,
  revoked_at timestamptz,
  created_at timestamptz not null default now()
);
-- One open invitation per address and org.
create unique index org_invitations_open on org_invitations (org_id, email_normalized)
  where accepted_at is null and revoked_at is null;
