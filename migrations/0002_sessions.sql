create table sessions (
  id uuid primary key,
  user_id uuid not null references users (id) on delete cascade,
  org_id uuid,
  aal smallint not null default 1,
  amr text[] not null default '{}',
  created_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  -- Absolute end: refresh tokens never outlive it, however often they rotate.
  expires_at timestamptz not null,
  idle_ttl_seconds integer,
  ip text,
  user_agent text,
  revoked_at timestamptz,
  revoked_reason text
);
create index sessions_user on sessions (user_id) where revoked_at is null;
create index sessions_revoked on sessions (revoked_at) where revoked_at is not null;

create table refresh_tokens (
  token_hash bytea primary key,
  session_id uuid not null references sessions (id) on delete cascade,
  created_at timestamptz not null default now(),
  used_at timestamptz,
  -- The token that replaced this one, encrypted under a key derived from this token itself,
  -- so a retry of a lost response can be answered with the same pair and nothing else can read it.
  successor_enc text
);
create index refresh_tokens_session on refresh_tokens (session_id);
