// Owns the deployment_targets table: the aliases one build is meant for (production,
// pr-<n>), each with its GitHub Deployment, and whether it was activated or dropped.
import type { Queryable } from "./create-database.js";

export type DeploymentTarget = {
  deploymentId: string;
  alias: string;
  pullRequestNumber: number | null;
  githubDeploymentId: number | null;
  activatedAt: Date | null;
  dropped: boolean;
};

const columns = `deployment_id as "deploymentId", alias, pull_request_number as "pullRequestNumber",
  github_deployment_id as "githubDeploymentId", activated_at as "activatedAt", dropped`;

function fromRow(row: Record<string, unknown>): DeploymentTarget {
  return { ...(row as DeploymentTarget), githubDeploymentId: row.githubDeploymentId === null ? null : Number(row.githubDeploymentId) };
}

/** Adds the alias to the build; true when it is new (a second event for the same build returns false). */
export async function addDeploymentTarget(db: Queryable, deploymentId: string, alias: string, pullRequestNumber: number | null): Promise<boolean> {
  const result = await db.query(
    `insert into deployment_targets (deployment_id, alias, pull_request_number) values ($1, $2, $3)
       on conflict (deployment_id, alias) do update set dropped = false
         where deployment_targets.dropped
     returning 1`,
    [deploymentId, alias, pullRequestNumber],
  );
  return result.rowCount === 1;
}

export async function listDeploymentTargets(db: Queryable, deploymentId: string): Promise<DeploymentTarget[]> {
  const result = await db.query(`select ${columns} from deployment_targets where deployment_id = $1 order by created_at`, [deploymentId]);
  return result.rows.map(fromRow);
}

export async function setGithubDeploymentId(db: Queryable, deploymentId: string, alias: string, githubDeploymentId: number): Promise<void> {
  await db.query("update deployment_targets set github_deployment_id = $3 where deployment_id = $1 and alias = $2", [deploymentId, alias, githubDeploymentId]);
}

export async function markTargetActivated(db: Queryable, deploymentId: string, alias: string): Promise<void> {
  await db.query("update deployment_targets set activated_at = now() where deployment_id = $1 and alias = $2", [deploymentId, alias]);
}

/** Drops the alias from the build; returns how many aliases the build still has. */
export async function dropDeploymentTarget(db: Queryable, deploymentId: string, alias: string): Promise<number> {
  await db.query("update deployment_targets set dropped = true where deployment_id = $1 and alias = $2", [deploymentId, alias]);
  const left = await db.query<{ n: number }>("select count(*)::int as n from deployment_targets where deployment_id = $1 and not dropped", [deploymentId]);
  return left.rows[0]!.n;
}

/** Builds of the function for the alias, still queued or building, older than `newerVersion`. */
export async function findOlderBuildsForAlias(db: Queryable, functionId: string, alias: string, newerVersion: number): Promise<{ id: string; version: number }[]> {
  const result = await db.query<{ id: string; version: number }>(
    `select d.id, d.version from deployments d join deployment_targets t on t.deployment_id = d.id
      where d.function_id = $1 and t.alias = $2 and not t.dropped and d.version < $3
        and d.status in ('queued', 'building')`,
    [functionId, alias, newerVersion],
  );
  return result.rows;
}

/** Every build, in any state, that was meant for the alias of one of the repository's functions. */
export async function listTargetsForAlias(db: Queryable, repositoryId: number, alias: string) {
  const result = await db.query<{ deploymentId: string; functionId: string; status: string; githubDeploymentId: string | null; dropped: boolean }>(
    `select d.id as "deploymentId", d.function_id as "functionId", d.status, t.github_deployment_id as "githubDeploymentId", t.dropped
       from deployment_targets t join deployments d on d.id = t.deployment_id join functions f on f.id = d.function_id
      where f.repository_id = $1 and t.alias = $2`,
    [repositoryId, alias],
  );
  return result.rows.map((r) => ({ ...r, githubDeploymentId: r.githubDeploymentId === null ? null : Number(r.githubDeploymentId) }));
}
