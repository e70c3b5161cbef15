-- Gateways converge on desired state (issue 15). The aliases table is the desired route
-- table; route_revision counts its changes. Every statement that changes aliases bumps it
-- under the row's lock, so revisions commit in order: a reader that sees revision N sees
-- every alias change up to N and none after it (read both in one snapshot).
create table route_revision (
  id         boolean primary key default true check (id),
  revision   bigint not null,
  changed_at timestamptz not null default now()
);
insert into route_revision (revision) values (1);

create function bump_route_revision() returns trigger language plpgsql as $$
begin
  update route_revision set revision = revision + 1, changed_at = now();
  return null;
end;
$$;
create trigger aliases_bump_route_revision after insert or update or delete or truncate on aliases
  for each statement execute function bump_route_revision();

-- One row per gateway node: it registers at start (booted_at), renews last_seen every
-- SLIPWAY_GATEWAY_HEARTBEAT_SECONDS, and after each reconcile says which revision it serves
-- and which functions' routes it could not serve there (failing: [{functionId, error}]).
-- A node is live while last_seen is within SLIPWAY_GATEWAY_NODE_TTL_SECONDS.
create table gateway_nodes (
  id              text primary key,
  url             text not null,
  booted_at       timestamptz not null,
  last_seen       timestamptz not null,
  served_revision bigint not null default 0,
  served_at       timestamptz,
  failing         jsonb not null default '[]'
);

-- The gateway node that claimed a queued execution: only that node can tell from its
-- runtime's log files whether an interrupted run reached the function.
alter table executions add column node_id text;
create index executions_processing_node on executions (node_id) where status = 'processing';
