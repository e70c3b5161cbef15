// Owns deployment_settings: how a deployment may be executed (execute permissions, cron
// schedule, event subscriptions, non-secret variables, timeout), as slipway.yml said when
// it was built. A deployment made without its own row (a redeploy) uses the settings of
// the function's newest earlier deployment that has one.
import type { Queryable } from "./create-database.js";

/** Who the function was in Appwrite, when the deployment was read from appwrite.json. */
export type AppwriteIdentity = { functionId: string; name: string; runtime: string; projectId: string | null };

export type DeploymentSettings = {
  execute: string[];
  schedule: string | null;
  events: string[];
  variables: Record<string, string>;
  timeoutSeconds: number | null;
  appwrite: AppwriteIdentity | null;
};

export const defaultDeploymentSettings: DeploymentSettings = { execute: [], schedule: null, events: [], variables: {}, timeoutSeconds: null, appwrite: null };

export async function recordDeploymentSettings(db: Queryable, deploymentId: string, settings: Partial<DeploymentSettings>): Promise<void> {
  await db.query(
    `insert into deployment_settings (deployment_id, execute, schedule, events, variables, timeout_seconds, appwrite) values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (deployment_id) do update set execute = excluded.execute, schedule = excluded.schedule, events = excluded.events,
       variables = excluded.variables, timeout_seconds = excluded.timeout_seconds, appwrite = excluded.appwrite`,
    [deploymentId, settings.execute ?? [], settings.schedule ?? null, settings.events ?? [], JSON.stringify(settings.variables ?? {}), settings.timeoutSeconds ?? null,
      settings.appwrite ? JSON.stringify(settings.appwrite) : null],
  );
}

export async function getDeploymentSettings(db: Queryable, deploymentId: string): Promise<DeploymentSettings> {
  const result = await db.query<DeploymentSettings>(
    `select s.execute, s.schedule, s.events, s.variables, s.timeout_seconds as "timeoutSeconds", s.appwrite
       from deployments target
       join deployments d on d.function_id = target.function_id and d.version <= target.version
       join deployment_settings s on s.deployment_id = d.id
      where target.id = $1 order by d.version desc limit 1`,
    [deploymentId],
  );
  return result.rows[0] ?? defaultDeploymentSettings;
}
