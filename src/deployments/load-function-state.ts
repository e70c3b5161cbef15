// Owns what the deployment actions need to know about a function: its deployments and what
// its production alias serves now.
import type { Queryable } from "../store/create-database.js";
import { DeploymentActionError } from "./deployment-action-error.js";
import type { DeploymentSummary } from "./resolve-deployment-target.js";

export type FunctionState = {
  id: string;
  name: string;
  slug: string;
  owner: string;
  repo: string;
  installationId: number;
  deployments: DeploymentSummary[];
  production: (DeploymentSummary & { pinned: boolean }) | null;
};

export async function listRepositoryFunctions(db: Queryable, owner: string, repo: string): Promise<{ id: string; name: string }[]> {
  const result = await db.query<{ id: string; name: string }>(
    "select f.id, f.name from functions f join repositories r on r.id = f.repository_id where r.owner = $1 and r.name = $2 order by f.name",
    [owner, repo],
  );
  return result.rows;
}

export async function loadFunctionState(db: Queryable, functionId: string): Promise<FunctionState> {
  const fn = await db.query(
    `select f.id, f.name, f.slug, r.owner, r.name as repo, r.installation_id::float8 as "installationId"
       from functions f join repositories r on r.id = f.repository_id where f.id = $1`,
    [functionId],
  );
  if (fn.rowCount === 0) throw new DeploymentActionError(`there is no function ${functionId}`);
  const deployments = await db.query<DeploymentSummary>(
    `select id, version, status, commit_sha as "commitSha", pruned_at is not null as pruned from deployments where function_id = $1 order by version`,
    [functionId],
  );
  const alias = await db.query<{ deployment_id: string; pinned: boolean }>(
    "select deployment_id, pinned from aliases where function_id = $1 and name = 'production'",
    [functionId],
  );
  const productionRow = alias.rows[0];
  const serving = productionRow ? deployments.rows.find((d) => d.id === productionRow.deployment_id) : undefined;
  return {
    ...(fn.rows[0] as Omit<FunctionState, "deployments" | "production">),
    deployments: deployments.rows,
    production: serving && productionRow ? { ...serving, pinned: productionRow.pinned } : null,
  };
}
