-- Revocations in a table of their own, independent of the rows they revoke: deleting an account
-- removes its sessions (on delete cascade), not the record that they were revoked. The KV
-- store's revocation marks are reloaded from here on start and reconnect, and the revocation
-- feed (GET /v1/revocations?since=<id>) will page through it.
create table revocations (
  -- Monotonically increasing: the feed's cursor (the primary key is its index).
  id bigserial primary key,
  kind text not null check (kind in ('session', 'pat', 'user_not_before', 'org_member_not_before')),
  -- No foreign keys: a revocation must outlive what it revokes.
  session_id uuid,
  user_id uuid,
  org_id uuid,
  pat_id uuid,
  -- For the not-before kinds: tokens issued before it are refused.
  not_before timestamptz,
  reason text,
  revoked_at timestamptz not null default now(),
  -- Until when it matters: the last access token that could carry what it revokes has expired
  -- by then. Past it a row is not reloaded and may be pruned.
  expires_at timestamptz not null,
  constraint revocations_subject check (
    case kind
      when 'session' then session_id is not null
      when 'pat' then pat_id is not null
      when 'user_not_before' then user_id is not null and not_before is not null
      when 'org_member_not_before' then org_id is not null and user_id is not null and not_before is not null
    end
  )
);
-- The reload on start and reconnect: what has not expired yet.
create index revocations_expires on revocations (expires_at);

-- Sessions revoked before this migration whose access tokens may still be alive. The access
-- token lifetime is configuration (at most 3600 s, plus 60 s of skew), so the longest is assumed:
-- a mark that lives longer than needed only costs memory.
insert into revocations (kind, session_id, user_id, org_id, reason, revoked_at, expires_at)
select 'session', id, user_id, org_id, revoked_reason, revoked_at, least(revoked_at, expires_at) + interval '3660 seconds'
from sessions
where revoked_at is not null and least(revoked_at, expires_at) + interval '3660 seconds' > now()
order by revoked_at;

-- The reload no longer reads sessions.revoked_at.
drop index sessions_revoked;

-- Who spent a refresh token (IP and user agent at rotation), and whether the one retry the grace
-- window allows (a lost response, answered with the same successor) has been made.
alter table refresh_tokens
  add column spent_ip text,
  add column spent_user_agent text,
  add column replayed_at timestamptz;
