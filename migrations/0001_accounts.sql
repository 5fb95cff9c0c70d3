create table users (
  id uuid primary key,
  email text not null,
  -- Lower-cased and trimmed; the unique index is what makes signup races safe.
  email_normalized text not null unique,
  email_verified_at timestamptz,
  password_hash text not null,
  name text not null,
  locale text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Verification and password-reset links: only the SHA-256 of the token is kept.
create table email_tokens (
  token_hash bytea primary key,
  user_id uuid not null references users (id) on delete cascade,
  purpose text not null check (purpose in ('verify_email', 'reset_password')),
  email text not null,
  expires_at timestamptz not null,
  used_at timestamptz,
  created_at timestamptz not null default now()
);
create index email_tokens_user on email_tokens (user_id, purpose);
