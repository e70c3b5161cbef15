-- Deployments stay as records forever; the retention policy removes only the builds (the
-- artifact, and the uploaded source) of old ones nothing points at. pruned_at says when, and
-- a pruned deployment can no longer serve, be rolled back to or be promoted.
alter table deployments add column pruned_at timestamptz;
create index deployments_ready_by_function_idx on deployments (function_id, version desc) where status = 'ready' and pruned_at is null;
