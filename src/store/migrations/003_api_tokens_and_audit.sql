-- API tokens for the REST API, the CLI and function execution, and the audit log of every
-- change to what serves traffic.

create table api_tokens (
  id           uuid primary key default gen_random_uuid(),
  name         text not null,
  token_hash   text not null unique,            -- sha256 of the token; the token itself is never stored
  kind         text not null check (kind in ('server', 'client', 'execution')),
  teams        text[] not null default '{}',   -- for execute permission team:<name>
  scopes       text[] not null default '{}',   -- for execute permission key:<scope>
  function_id  uuid references functions(id),  -- execution keys are scoped to one function
  expires_at   timestamptz,
  revoked_at   timestamptz,
  last_used_at timestamptz,
  created_at   timestamptz not null default now()
);

create table audit_log (
  id                 bigserial primary key,
  function_id        uuid references functions(id),
  action             text not null,             -- activate, rollback, promote, unpin, cancel, ...
  actor              text not null,             -- GitHub login, token name, or 'slipway'
  via                text not null check (via in ('push', 'comment', 'button', 'cli', 'api', 'system')),
  from_deployment_id uuid references deployments(id),
  to_deployment_id   uuid references deployments(id),
  detail             jsonb not null default '{}',
  created_at         timestamptz not null default now()
);
create index audit_log_function_idx on audit_log (function_id, created_at desc);
