-- Pull requests: previews (alias pr-<n>), the aliases a build is meant for, superseded
-- builds, fork approvals, the sticky PR comment and GitHub Deployments.

-- Functions choose which paths trigger a build and whether a newer commit cancels an
-- older build of the same alias.
alter table functions add column watch text[] not null default '{}';
alter table functions add column supersede boolean not null default true;

-- trusted = false: built from a fork's code, so it must never receive secret variables.
alter table deployments add column trusted boolean not null default true;
alter table deployments add column superseded_by uuid references deployments(id);

-- One build can serve several aliases: a push and a pull request for the same sha build once.
create table deployment_targets (
  deployment_id        uuid not null references deployments(id),
  alias                text not null,            -- production, pr-<n>
  pull_request_number  integer,
  github_deployment_id bigint,                   -- the GitHub Deployment for this alias
  activated_at         timestamptz,
  dropped              boolean not null default false, -- superseded for this alias, or the PR closed
  created_at           timestamptz not null default now(),
  primary key (deployment_id, alias)
);
create index deployment_targets_alias_idx on deployment_targets (alias, deployment_id);

create table pull_requests (
  repository_id bigint not null references repositories(id),
  number        integer not null,
  state         text not null default 'open' check (state in ('open', 'closed')),
  head_sha      text not null,
  head_ref      text not null,
  base_sha      text not null,
  base_ref      text not null,
  is_fork       boolean not null default false,
  author        text not null,
  approved_sha  text,                            -- the one fork commit a maintainer approved
  approved_by   text,
  comment_id    bigint,                          -- the sticky Slipway comment
  updated_at    timestamptz not null default now(),
  primary key (repository_id, number)
);

-- One row per function in the sticky comment; the deployment, when there is one, gives
-- status and version at render time.
create table pull_request_functions (
  repository_id bigint not null,
  number        integer not null,
  function_name text not null,
  deployment_id uuid references deployments(id),
  note          text,                            -- skipped: why; awaiting approval: who may
  updated_at    timestamptz not null default now(),
  primary key (repository_id, number, function_name),
  foreign key (repository_id, number) references pull_requests (repository_id, number)
);
