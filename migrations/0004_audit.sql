-- Append-only: each row's hash covers the previous row's hash, so an edit or a deletion
-- anywhere breaks every hash after it.
create table audit_events (
  -- Position in the chain, taken from audit_chain_head, so it is the chain's order exactly.
  seq bigint primary key,
  id uuid not null unique,
  occurred_at timestamptz not null,
  org_id uuid,
  actor_id uuid,
  action text not null,
  target_type text,
  target_id text,
  ip text,
  user_agent text,
  data jsonb not null default '{}',
  prev_hash bytea not null,
  hash bytea not null
);
create index audit_events_actor on audit_events (actor_id, seq);
create index audit_events_org on audit_events (org_id, seq);

create function audit_events_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'audit_events is append-only';
end $$;
create trigger audit_events_no_update before update or delete on audit_events
  for each row execute function audit_events_append_only();

-- The chain's tail in one row. Appending updates it (row lock: appenders queue, and each one
-- sees the latest committed tail) and inserts the event in the same statement.
create table audit_chain_head (
  id boolean primary key default true check (id),
  seq bigint not null,
  prev_hash bytea not null,
  hash bytea not null
);
insert into audit_chain_head (seq, prev_hash, hash) values (0, '\x'::bytea, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
