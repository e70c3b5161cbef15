// Read access to functions and deployments: what exists, what serves, how each build went,
// and whether a served runtime keeps going down (runtime_health, written by the gateways).
import { z } from "zod";
import type { AppDependencies } from "../app/start-app.js";
import { functionUrl } from "../gateway/route-key.js";
import { listRuntimeHealth, type RuntimeHealth } from "../store/runtime-health.js";
import { ApiError, type ApiRouter } from "./create-api-router.js";

/** Each deployment's recent restarts, or null: a healthy one, or one that never served. */
async function withRuntimeHealth<T extends { id: string }>(db: AppDependencies["db"], deployments: T[]): Promise<(T & { runtimeHealth: RuntimeHealth | null })[]> {
  const health = deployments.length ? await listRuntimeHealth(db, { deploymentIds: deployments.map((d) => d.id) }) : [];
  const byDeployment = new Map(health.map((h) => [h.deploymentId, h]));
  return deployments.map((d) => ({ ...d, runtimeHealth: byDeployment.get(d.id) ?? null }));
}

const deploymentColumns = `d.id, d.version, d.status, d.commit_sha as "commitSha", d.ref, d.trigger, d.runtime,
  d.artifact_digest as "artifactDigest", d.artifact_size::float8 as "artifactSize", d.error, d.failed_command as "failedCommand",
  d.timings, d.created_at as "createdAt", d.build_started_at as "buildStartedAt", d.build_finished_at as "buildFinishedAt", d.pruned_at as "prunedAt",
  f.id as "functionId", f.name as "functionName", r.owner, r.name as repo`;

export function registerDeploymentRoutes(api: ApiRouter, deps: AppDependencies): void {
  const { db } = deps;

  api.route({
    method: "GET",
    path: "/v1/functions",
    summary: "List functions, with what each alias serves and `runtimeHealth`: the recent restarts of those deployments' runtimes (empty when healthy), each with `crashLooping`, `restarts`, `lastExitCode`, `lastReason` and `nextRestartInSeconds`",
    tags: ["functions"],
    auth: ["server"],
    query: z.object({ repo: z.string().regex(/^[^/]+\/[^/]+$/).optional() }),
    handler: async ({ query }) => {
      const [owner, repo] = query.repo ? query.repo.split("/") : [null, null];
      const functions = await db.query(
        `select f.id, f.name, f.slug, f.runtime, f.branch, r.owner, r.name as repo,
                coalesce(json_agg(json_build_object('alias', a.name, 'deploymentId', a.deployment_id, 'version', d.version, 'pinned', a.pinned))
                  filter (where a.name is not null), '[]') as aliases
           from functions f join repositories r on r.id = f.repository_id
           left join aliases a on a.function_id = f.id left join deployments d on d.id = a.deployment_id
          where ($1::text is null or (r.owner = $1 and r.name = $2))
          group by f.id, r.owner, r.name order by r.owner, r.name, f.name`,
        [owner, repo],
      );
      const health = functions.rows.length ? await listRuntimeHealth(db, { functionIds: functions.rows.map((f) => f.id), servedOnly: true }) : [];
      return {
        functions: functions.rows.map((f) => ({ ...f, url: functionUrl(deps.config.publicUrl, f.slug), runtimeHealth: health.filter((h) => h.functionId === f.id) })),
      };
    },
  });

  api.route({
    method: "GET",
    path: "/v1/deployments",
    summary: "List deployments, newest first; `runtimeHealth` is a deployment's recent runtime restarts and crash loop, or null",
    tags: ["deployments"],
    auth: ["server"],
    query: z.object({
      functionId: z.uuid().optional(),
      status: z.enum(["queued", "building", "ready", "failed", "cancelled"]).optional(),
      limit: z.coerce.number().int().min(1).max(500).default(50),
    }),
    handler: async ({ query }) => {
      const rows = await db.query(
        `select ${deploymentColumns} from deployments d join functions f on f.id = d.function_id join repositories r on r.id = f.repository_id
          where ($1::uuid is null or d.function_id = $1) and ($2::text is null or d.status = $2)
          order by d.created_at desc limit $3`,
        [query.functionId ?? null, query.status ?? null, query.limit],
      );
      return { deployments: await withRuntimeHealth(db, rows.rows) };
    },
  });

  api.route({
    method: "GET",
    path: "/v1/deployments/:deploymentId",
    summary: "One deployment, with its build log tail and `runtimeHealth` (its runtime's recent restarts, or null)",
    tags: ["deployments"],
    auth: ["server"],
    handler: async ({ params }) => {
      if (!z.uuid().safeParse(params.deploymentId).success) throw new ApiError(400, "deploymentId must be a UUID");
      const row = await db.query(`select ${deploymentColumns}, d.log_tail as "logTail" from deployments d join functions f on f.id = d.function_id join repositories r on r.id = f.repository_id where d.id = $1`, [params.deploymentId]);
      if (row.rowCount === 0) throw new ApiError(404, `no deployment ${params.deploymentId}`);
      return (await withRuntimeHealth(db, row.rows))[0];
    },
  });
}
