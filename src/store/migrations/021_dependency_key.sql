-- The dependency key of a successful build (src/pipeline/dependency-reuse.ts): the HMAC of
-- its package.json, lockfile, .npmrc, variables, build.packages, commands and runtime image.
-- The next build of the function skips its install only when its key equals this one.
alter table deployments add column dependency_key text;
