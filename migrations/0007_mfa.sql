-- When the session last proved who is behind it, and how strongly: step-up ("recent
-- authentication") reads these. A login sets them; POST /v1/me/reauthenticate renews them.
-- Sessions that exist when this runs never authenticated recently: '-infinity', not the time of
-- the deployment (which would make every old session pass step-up for five minutes).
alter table sessions
  add column auth_at timestamptz not null default '-infinity',
  add column auth_aal smallint not null default 1;
alter table sessions alter column auth_at set default now();

-- Second factors, one row each. A row is pending until confirmed_at is set (an enrolment the
-- user has not proved yet); only confirmed rows count at login.
create table mfa_factors (
  id uuid primary key,
  user_id uuid not null references users (id) on delete cascade,
  kind text not null check (kind in ('totp', 'sms', 'webauthn')),
  name text not null,
  -- TOTP secret or phone number, sealed under the keyring with the row id as AAD.
  secret_enc text,
  -- TOTP: the last time step accepted. A code is accepted only for a later step, and the
  -- compare-and-set is one UPDATE, so two instances racing on the same code cannot both win.
  last_used_step bigint,
  -- WebAuthn.
  credential_id bytea unique,
  public_key bytea,
  sign_count bigint,
  transports text[],
  passkey boolean not null default false,
  device_type text,
  backed_up boolean,
  aaguid text,
  -- A pending TOTP or SMS set-up belongs to the session that started it (the one that passed
  -- step-up): only that session can confirm it, so another session of the user (a stolen, older
  -- one) can neither guess the code nor take the backup codes and the fresh aal2 that come with
  -- it. No foreign key: a set-up lives minutes, and a revoked session cannot call confirm anyway.
  enrol_session_id uuid,
  -- Wrong confirm codes of a pending TOTP set-up; each try is taken (one conditional UPDATE)
  -- before the code is compared, so parallel guesses share the limit.
  enrol_failures smallint not null default 0,
  confirmed_at timestamptz,
  created_at timestamptz not null default now(),
  last_used_at timestamptz
);
create index mfa_factors_user on mfa_factors (user_id);
-- One authenticator app and one phone per account (pending or confirmed); keys are many.
create unique index mfa_factors_one_per_kind on mfa_factors (user_id, kind) where kind in ('totp', 'sms');

-- Backup codes: each stored as a keyed hash (HMAC under a keyring-derived key, so a stolen
-- table alone cannot be brute-forced), single use. A new set deletes the old one.
create table mfa_backup_codes (
  user_id uuid not null references users (id) on delete cascade,
  code_hash bytea not null,
  used_at timestamptz,
  created_at timestamptz not null default now(),
  primary key (user_id, code_hash)
);

-- Whether the account has a confirmed factor, kept by the mfa module in the same transaction as
-- the factors themselves: GET /v1/me reads the account row anyway, and skips the factor query
-- for the accounts that have none. Login and step-up read the factors, never this.
alter table users add column mfa_enabled boolean not null default false;
