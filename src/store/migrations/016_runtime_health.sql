-- Self-healing as every process sees it: one row per deployment whose runtime a gateway
-- restarted and that has not yet stayed up a minute since. The gateway that heals writes it;
-- the app's API and dashboard read it. crash_looping: three or more restarts in a row.
create table runtime_health (
  deployment_id    uuid primary key references deployments(id) on delete cascade,
  function_id      uuid not null references functions(id) on delete cascade,
  restarts         integer not null check (restarts > 0), -- in a row, none staying up a minute
  first_restart_at timestamptz not null,
  last_restart_at  timestamptz not null,
  last_reason      text not null check (last_reason in ('exited', 'unhealthy', 'start_failed')),
  last_exit_code   integer,
  next_restart_at  timestamptz,
  crash_looping    boolean not null default false
);
create index runtime_health_function_id on runtime_health (function_id);
