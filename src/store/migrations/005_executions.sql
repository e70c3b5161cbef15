-- Executions (sync, async, delayed, scheduled, event and plain HTTP calls), the execution
-- settings each deployment was built with (who may execute it, its schedule, the events
-- it subscribes to, its non-secret variables, its timeout) and encrypted variables.
-- Independent of 004: nothing here refers to its tables or columns.

create table deployment_settings (
  deployment_id   uuid primary key references deployments(id),
  execute         text[] not null default '{}',   -- any | users | team:<name> | key:<scope>; empty: server keys only
  schedule        text,                           -- 5-field cron, UTC
  events          text[] not null default '{}',   -- event name patterns
  variables       jsonb not null default '{}',    -- non-secret variables from slipway.yml
  timeout_seconds integer,
  created_at      timestamptz not null default now()
);

create table executions (
  id                   uuid primary key default gen_random_uuid(),
  function_id          uuid not null references functions(id),
  deployment_id        uuid references deployments(id),  -- set when it starts
  trigger              text not null check (trigger in ('http', 'sync', 'async', 'schedule', 'event')),
  status               text not null check (status in ('scheduled', 'waiting', 'processing', 'completed', 'failed', 'timed_out')),
  dedupe_key           text unique,                      -- a schedule tick or an event fan-out, so a retried job makes no second row
  event                text,
  request_method       text not null default 'POST',
  request_path         text not null default '/',
  request_headers      jsonb not null default '{}',
  request_body         text not null default '',
  response_status_code integer,
  response_headers     jsonb,
  response_body        text,
  logs                 text,
  errors               text,
  log_id               text,
  duration_ms          double precision,
  created_by           uuid references api_tokens(id) on delete set null, -- the token that asked for it
  scheduled_at         timestamptz,
  attempt              integer not null default 0,
  created_at           timestamptz not null default now(),
  started_at           timestamptz,
  finished_at          timestamptz
);
create index executions_function_idx on executions (function_id, created_at desc);
create index executions_pending_idx on executions (status, created_at) where status in ('scheduled', 'waiting', 'processing');

-- Values are AES-256-GCM ciphertexts under the master key named by key_id; the name is the
-- additional authenticated data, so a ciphertext cannot be moved to another variable.
create table variables (
  id            uuid primary key default gen_random_uuid(),
  repository_id bigint not null references repositories(id),
  function_id   uuid references functions(id),          -- null: project-level (the repository)
  name          text not null,
  key_id        text not null,
  iv            bytea not null,
  ciphertext    bytea not null,
  auth_tag      bytea not null,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);
create unique index variables_project_name_idx on variables (repository_id, name) where function_id is null;
create unique index variables_function_name_idx on variables (function_id, name) where function_id is not null;
