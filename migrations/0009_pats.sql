-- Personal access tokens: long-lived secrets a user makes for scripts and services, exchanged
-- at POST /v1/token (RFC 8693) for short access tokens. Only the SHA-256 of the secret is kept.
create table pats (
  id uuid primary key,
  user_id uuid not null references users (id) on delete cascade,
  -- The org whose permissions the scopes are drawn from; null only for an operator's token
  -- (scope "admin", made with the CLI).
  org_id uuid references orgs (id) on delete cascade,
  name text not null,
  -- What lists show: "tsr_pat_" and the first four characters of the random part.
  prefix text not null,
  token_hash bytea not null unique,
  scopes text[] not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  -- Written at most once a minute per token (a KV gate), never per use.
  last_used_at timestamptz,
  revoked_at timestamptz,
  revoked_reason text,
  constraint pats_operator_only_without_org check (org_id is not null or scopes = array['admin']::text[])
);
-- A user's tokens (list, the live count, revoking them all when the account goes).
create index pats_user on pats (user_id);
-- An org's tokens (its admins' list; a member's when they are removed).
create index pats_org on pats (org_id, user_id) where org_id is not null;

-- Operators run the service: their tokens (scope "admin") reach /v1/admin/*. Checked on every use.
alter table users add column is_operator boolean not null default false;
