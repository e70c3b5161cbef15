-- A verified webhook is kept with its payload until it has been handled, so a handler that
-- failed (GitHub's API down, a database error) or an app that died half-way is run again by
-- Slipway itself: GitHub never redelivers on its own.
alter table webhook_deliveries
  add column payload jsonb,
  add column attempts integer not null default 0,
  add column last_error text,
  add column retry_at timestamptz;

alter table webhook_deliveries drop constraint webhook_deliveries_status_check;
alter table webhook_deliveries add constraint webhook_deliveries_status_check check (status in ('received', 'processed', 'failed'));

create index webhook_deliveries_due_idx on webhook_deliveries (retry_at) where status = 'received';
