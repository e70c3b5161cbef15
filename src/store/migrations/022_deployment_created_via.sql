-- A redeploy records who asked for it and how, as an upload does, so its activation is
-- audited under that name: from a comment, the console, the CLI or the API.
alter table deployments drop constraint if exists deployments_created_via_check;
alter table deployments add constraint deployments_created_via_check check (created_via in ('cli', 'api', 'comment', 'console'));
