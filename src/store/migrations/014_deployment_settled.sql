-- When the worker was done with a ready build: activated for its aliases, or refused. A
-- follower of the build log waits for this, not for `ready`, which comes before activation.
alter table deployments add column settled_at timestamptz;
update deployments set settled_at = coalesce(build_finished_at, updated_at) where status = 'ready';
