-- The reporting outbox. A state change that GitHub should hear of (a deployment built,
-- failed, cancelled; a pull request's previews changed) writes its row here in the same
-- statement or transaction as the change; reporters send it outside any transaction. One row
-- per object reported (`key`: deployment:<id> or pull-request:<repository>:<number>), so
-- updates to the same object coalesce: `facts` is always the newest, `revision` counts
-- changes and `reported` the revision GitHub has heard. A row is due while revision >
-- reported and next_at has come (a lease while a reporter sends it, a backoff after a failure).
create table github_reports (
  key         text primary key,
  facts       jsonb not null,
  revision    bigint not null default 1,
  reported    bigint not null default 0,
  next_at     timestamptz not null default now(),
  attempts    integer not null default 0,
  last_error  text,
  updated_at  timestamptz not null default now()
);

create index github_reports_due_idx on github_reports (next_at) where revision > reported;

-- While a reporter sends a row, no other takes it (leased_until); a newer revision waits.
alter table github_reports add column leased_until timestamptz;

-- Reporters in every process LISTEN here, so a report is sent at once, not at the next poll.
create function github_reports_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify('slipway_github_reports', '');
  return null;
end $$;

create trigger github_reports_notify after insert or update of revision on github_reports
  for each statement execute function github_reports_notify();
