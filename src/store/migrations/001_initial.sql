-- The first schema: who installed Slipway, which repositories and functions it knows,
-- every deployment ever built, the aliases that point at them, and the webhook deliveries
-- it has handled.

create table installations (
  id            bigint primary key,            -- GitHub installation id
  account_login text not null,
  created_at    timestamptz not null default now()
);

create table repositories (
  id              bigint primary key,          -- GitHub repository id
  installation_id bigint not null references installations(id),
  owner           text not null,
  name            text not null,
  clone_url       text not null,
  default_branch  text not null,
  created_at      timestamptz not null default now(),
  unique (owner, name)
);

create table functions (
  id            uuid primary key default gen_random_uuid(),
  repository_id bigint not null references repositories(id),
  name          text not null,                 -- the id in slipway.yml
  slug          text not null unique,          -- the public path segment of its URL
  runtime       text not null,
  root          text not null,
  entrypoint    text not null,
  commands      text not null,
  branch        text not null,
  next_version  integer not null default 0,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  unique (repository_id, name)
);

create table deployments (
  id                uuid primary key default gen_random_uuid(),
  function_id       uuid not null references functions(id),
  version           integer not null,
  status            text not null check (status in ('queued', 'building', 'ready', 'failed', 'cancelled')),
  commit_sha        text not null,
  ref               text not null,
  trigger           text not null,             -- push, redeploy, ...
  delivery_id       text,                      -- the webhook delivery that caused it
  runtime           text not null,
  entrypoint        text not null,
  commands          text not null,
  root              text not null,
  check_run_id      bigint,
  attempt           integer not null default 0,
  artifact_digest   text,
  artifact_size     bigint,
  error             text,
  failed_command    text,
  log_tail          text,
  timings           jsonb not null default '{}',
  created_at        timestamptz not null default now(),
  build_started_at  timestamptz,
  build_finished_at timestamptz,
  updated_at        timestamptz not null default now(),
  unique (function_id, version),
  unique (function_id, delivery_id)
);
create index deployments_status_idx on deployments (status) where status in ('queued', 'building');

create table aliases (
  function_id   uuid not null references functions(id),
  name          text not null,                 -- production, pr-<n>, branch-<name>
  deployment_id uuid not null references deployments(id),
  pinned        boolean not null default false,
  updated_at    timestamptz not null default now(),
  primary key (function_id, name)
);

create table webhook_deliveries (
  id           text primary key,               -- x-github-delivery
  event        text not null,
  action       text,
  status       text not null default 'received' check (status in ('received', 'processed')),
  received_at  timestamptz not null default now(),
  processed_at timestamptz
);
