-- `slipway deploy <dir>`: a deployment built from an uploaded archive instead of a commit.
-- Its source is kept in the artifact store by digest (so a redeploy can build it again), and
-- who uploaded it, and how, is kept for the audit log of its activation.
alter table deployments add column source_digest text;
alter table deployments add column created_by text;
alter table deployments add column created_via text check (created_via in ('cli', 'api'));
