-- The app answers a verified webhook once it is stored here, and consumers handle it from
-- this table. `seq` is the order of arrival; deliveries with one `order_key` (one repository)
-- are handled one at a time in that order, so a pull request's events, and a push after the
-- rollback comment that preceded it, are never handled out of turn. `retry_at` is when the
-- delivery may next be claimed: now for a new one, the end of its lease while a consumer has
-- it, the backoff after a failed try.
alter table webhook_deliveries
  add column seq bigserial,
  add column order_key text;

create index webhook_deliveries_order_idx on webhook_deliveries (order_key, seq) where status = 'received';
