// Owns reads and inserts of the deployments table. Status changes are not here: they go
// through src/deployments/deployment-state.ts.
import type { DeploymentStatus } from "../deployments/deployment-state.js";
import type { Queryable } from "./create-database.js";

/** How someone other than a push asked for a deployment: an upload (cli, api) or a redeploy (any of them). */
export type DeploymentCreatedVia = "cli" | "api" | "comment" | "console";

export type NewDeployment = {
  functionId: string;
  commitSha: string;
  ref: string;
  trigger: string;
  deliveryId: string;
  runtime: string;
  entrypoint: string;
  commands: string;
  root: string;
  /** An uploaded source archive (`slipway deploy`) instead of a commit to fetch. */
  sourceDigest?: string;
  createdBy?: string;
  createdVia?: DeploymentCreatedVia;
};

export type QueuedDeployment = { id: string; version: number; created: boolean; checkRunId: number | null; status: DeploymentStatus };

/**
 * Records a queued deployment with the function's next version number. A second call for
 * the same function and webhook delivery returns the first one instead, so a webhook
 * handled twice never builds twice.
 */
export async function createQueuedDeployment(db: Queryable, deployment: NewDeployment): Promise<QueuedDeployment> {
  const existing = await db.query<{ id: string; version: number; check_run_id: string | null; status: DeploymentStatus }>(
    "select id, version, check_run_id, status from deployments where function_id = $1 and delivery_id = $2",
    [deployment.functionId, deployment.deliveryId],
  );
  const found = existing.rows[0];
  if (found) {
    return { id: found.id, version: found.version, created: false, checkRunId: found.check_run_id === null ? null : Number(found.check_run_id), status: found.status };
  }
  const result = await db.query<{ id: string; version: number }>(
    `with next as (
       update functions set next_version = next_version + 1 where id = $1 returning next_version
     )
     insert into deployments (function_id, version, status, commit_sha, ref, trigger, delivery_id, runtime, entrypoint, commands, root,
                              source_digest, created_by, created_via)
     select $1, next.next_version, 'queued', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 from next
     on conflict (function_id, delivery_id) do nothing
     returning id, version`,
    [deployment.functionId, deployment.commitSha, deployment.ref, deployment.trigger, deployment.deliveryId,
      deployment.runtime, deployment.entrypoint, deployment.commands, deployment.root,
      deployment.sourceDigest ?? null, deployment.createdBy ?? null, deployment.createdVia ?? null],
  );
  const row = result.rows[0];
  if (!row) return createQueuedDeployment(db, deployment); // lost a race with the same delivery
  return { id: row.id, version: row.version, created: true, checkRunId: null, status: "queued" };
}

export async function setCheckRunId(db: Queryable, deploymentId: string, checkRunId: number): Promise<void> {
  await db.query("update deployments set check_run_id = $2 where id = $1", [deploymentId, checkRunId]);
}

export type BuildContext = {
  deploymentId: string;
  version: number;
  status: DeploymentStatus;
  attempt: number;
  commitSha: string;
  ref: string;
  runtime: string;
  entrypoint: string;
  commands: string;
  root: string;
  checkRunId: number | null;
  trigger: string;
  /** Set for an uploaded source (`slipway deploy`): build it instead of fetching the commit. */
  sourceDigest: string | null;
  createdBy: string | null;
  createdVia: DeploymentCreatedVia | null;
  buildStartedAt: Date | null;
  artifactDigest: string | null;
  artifactSize: number | null;
  /** When the retention policy removed this deployment's build; it can no longer serve. */
  prunedAt: Date | null;
  functionId: string;
  functionName: string;
  slug: string;
  branch: string;
  cache: boolean;
  useCache: boolean;
  repositoryId: number;
  owner: string;
  repo: string;
  cloneUrl: string;
  installationId: number;
};

export async function getBuildContext(db: Queryable, deploymentId: string): Promise<BuildContext | null> {
  const result = await db.query(
    `select d.id as "deploymentId", d.version, d.status, d.attempt, d.commit_sha as "commitSha", d.ref,
            d.runtime, d.entrypoint, d.commands, d.root, d.check_run_id as "checkRunId",
            d.trigger, d.source_digest as "sourceDigest", d.created_by as "createdBy", d.created_via as "createdVia",
            d.build_started_at as "buildStartedAt", d.artifact_digest as "artifactDigest", d.artifact_size as "artifactSize", d.pruned_at as "prunedAt",
            f.id as "functionId", f.name as "functionName", f.slug, f.branch, f.cache, d.use_cache as "useCache",
            r.id as "repositoryId", r.owner, r.name as repo, r.clone_url as "cloneUrl", r.installation_id as "installationId"
       from deployments d join functions f on f.id = d.function_id join repositories r on r.id = f.repository_id
      where d.id = $1`,
    [deploymentId],
  );
  const row = result.rows[0];
  if (!row) return null;
  return {
    ...row,
    checkRunId: row.checkRunId === null ? null : Number(row.checkRunId),
    artifactSize: row.artifactSize === null ? null : Number(row.artifactSize),
    repositoryId: Number(row.repositoryId),
    installationId: Number(row.installationId),
  } as BuildContext;
}

/** Builds past their limit (plus a margin) or queued too long without a job: the watchdog's work list. */
/** Builds running longer than their runtime's limit (`limitFor`), which is never under `minimumSeconds`. */
export async function findOverdueBuilds(
  db: Queryable,
  minimumSeconds: number,
  limitFor: (runtime: string) => number = () => minimumSeconds,
): Promise<{ id: string; attempt: number; limitSeconds: number }[]> {
  const result = await db.query<{ id: string; attempt: number; runtime: string; elapsed: number }>(
    `select id, attempt, runtime, extract(epoch from now() - build_started_at)::float8 as elapsed from deployments
      where status = 'building' and build_started_at < now() - make_interval(secs => $1)`,
    [minimumSeconds],
  );
  return result.rows
    .map((row) => ({ id: row.id, attempt: row.attempt, elapsed: row.elapsed, limitSeconds: Math.max(minimumSeconds, limitFor(row.runtime)) }))
    .filter((row) => row.elapsed > row.limitSeconds)
    .map(({ id, attempt, limitSeconds }) => ({ id, attempt, limitSeconds }));
}

export async function findQueuedDeployments(db: Queryable, olderThanSeconds: number): Promise<string[]> {
  const result = await db.query<{ id: string }>(
    "select id from deployments where status = 'queued' and created_at < now() - make_interval(secs => $1)",
    [olderThanSeconds],
  );
  return result.rows.map((r) => r.id);
}
