-- The console's live executions: every statement that adds or changes executions tells
-- listeners which functions' executions changed (NOTIFY slipway_execution_changes, the
-- function id as payload), so an open console hears of a call without asking again and
-- again. One notice per function and statement, however many rows the gateway's batched
-- insert writes; the payload names a function only, nothing of the call itself.
create function notify_execution_changes() returns trigger language plpgsql as $$
begin
  perform pg_notify('slipway_execution_changes', function_id::text) from (select distinct function_id from changed_executions) as changed;
  return null;
end;
$$;

create trigger executions_inserted after insert on executions
  referencing new table as changed_executions for each statement execute function notify_execution_changes();
create trigger executions_updated after update on executions
  referencing new table as changed_executions for each statement execute function notify_execution_changes();
