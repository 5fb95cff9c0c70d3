create table signing_keys (
  kid text primary key,
  alg text not null,
  public_jwk jsonb not null,
  -- AES-256-GCM under the keyring.
  private_enc text not null,
  created_at timestamptz not null default now(),
  retired_at timestamptz
);
