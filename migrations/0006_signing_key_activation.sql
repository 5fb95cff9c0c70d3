-- A new signing key is published (JWKS) before it signs: it signs from activates_at on, and the
-- key it replaces stops at the same moment (retired_at, set in advance). Existing keys were
-- active from their creation.
alter table signing_keys add column activates_at timestamptz;
update signing_keys set activates_at = created_at;
alter table signing_keys alter column activates_at set not null, alter column activates_at set default now();
