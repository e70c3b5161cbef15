-- One check run per function (check-run name) and commit: the run Slipway made for it, so a
-- second event for the commit updates that run instead of adding another beside it. `state`:
-- waiting (queued for a fork approval; it becomes the build's run), building (a build's run)
-- or done (a completed run that is not a build's: skipped, refused).
create table commit_check_runs (
  repository_id bigint not null references repositories(id),
  head_sha      text not null,
  name          text not null,
  check_run_id  bigint not null,
  state         text not null check (state in ('waiting', 'building', 'done')),
  deployment_id uuid references deployments(id) on delete set null,
  updated_at    timestamptz not null default now(),
  primary key (repository_id, head_sha, name)
);
