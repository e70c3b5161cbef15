-- Who a function was in Appwrite, when its deployment was read from appwrite.json: its
-- `$id`, name, runtime and project id, for the Appwrite-compatible executions API and the
-- APPWRITE_FUNCTION_* environment. Null for a deployment configured by slipway.yml.
alter table deployment_settings add column appwrite jsonb;
