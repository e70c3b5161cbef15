-- Function-URL calls are recorded in batches of hundreds of rows, thousands a second, and
-- each foreign-key check is a query per row: about half of what inserting a row costs.
-- Slipway never deletes a function or a deployment (deployments are immutable and kept for
-- rollback), and an execution's ids always come from rows it has just read, so those two
-- checks guard against nothing that can happen.
alter table executions drop constraint executions_function_id_fkey;
alter table executions drop constraint executions_deployment_id_fkey;

-- Only schedule ticks and event fan-outs carry a dedupe key; other rows need no entry in
-- its index.
alter table executions drop constraint executions_dedupe_key_key;
create unique index executions_dedupe_key_idx on executions (dedupe_key) where dedupe_key is not null;
