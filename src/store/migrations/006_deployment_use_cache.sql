-- `/slipway redeploy --no-cache` builds once without the function's build cache.
alter table deployments add column use_cache boolean not null default true;
