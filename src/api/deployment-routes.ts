// Read access to functions and deployments: what exists, what serves, how each build went,
// and whether a served runtime keeps going down (runtime_health, written by the gateways).
// A server token sees everything; a console user sees the repositories they can read on
// GitHub (repository-access.ts), and `canDeploy` says whether they may act on a function.
import { z } from "zod";
import type { AppDependencies } from "../app/start-app.js";
import { githubWebUrl } from "../console/github-web-url.js";
import type { RepositoryAccessChecker } from "../console/repository-access.js";
import { deploymentUrl, functionUrl } from "../gateway/route-key.js";
import { parseBuildAnnotations } from "../pipeline/parse-build-annotations.js";
import { listRuntimeHealth, type RuntimeHealth } from "../store/runtime-health.js";
import { ApiError, type ApiRouter } from "./create-api-router.js";

/** Each deployment's recent restarts, or null: a healthy one, or one that never served. */
async function withRuntimeHealth<T extends { id: string }>(db: AppDependencies["db"], deployments: T[]): Promise<(T & { runtimeHealth: RuntimeHealth | null })[]> {
  const health = deployments.length ? await listRuntimeHealth(db, { deploymentIds: deployments.map((d) => d.id) }) : [];
  const byDeployment = new Map(health.map((h) => [h.deploymentId, h]));
  return deployments.map((d) => ({ ...d, runtimeHealth: byDeployment.get(d.id) ?? null }));
}

const deploymentColumns = `d.id, d.version, d.created_by as "createdBy", d.status, d.commit_sha as "commitSha", d.ref, d.trigger, d.runtime,
  d.artifact_digest as "artifactDigest", d.artifact_size::float8 as "artifactSize", d.error, d.failed_command as "failedCommand",
  d.timings, d.created_at as "createdAt", d.build_started_at as "buildStartedAt", d.build_finished_at as "buildFinishedAt", d.pruned_at as "prunedAt",
  f.id as "functionId", f.name as "functionName", r.owner, r.name as repo`;

/** The commit's message and author as GitHub has them, or null when GitHub cannot say (an upload, a lost commit). */
async function commitOf(deps: AppDependencies, deployment: { owner: string; repo: string; commitSha: string; installationId: string }) {
  if (!/^[0-9a-f]{40}$/.test(deployment.commitSha)) return null;
  try {
    const { data } = await deps.installations.forInstallation(Number(deployment.installationId)).rest.repos.getCommit({ owner: deployment.owner, repo: deployment.repo, ref: deployment.commitSha });
    return { message: data.commit.message, author: data.author?.login ?? data.commit.author?.name ?? null, url: data.html_url };
  } catch (error) {
    deps.log.debug({ err: error, sha: deployment.commitSha }, "no commit details for a deployment");
    return null;
  }
}

export function registerDeploymentRoutes(api: ApiRouter, deps: AppDependencies, access: RepositoryAccessChecker): void {
  const { db } = deps;

  api.route({
    method: "GET",
    path: "/v1/functions",
    summary: "List functions, with what each alias serves, `lastDeployment` (the newest: id, version, status, trigger, createdAt, error; null before the first) and `runtimeHealth`: the recent restarts of those deployments' runtimes (empty when healthy), each with `crashLooping`, `restarts`, `lastExitCode`, `lastReason` and `nextRestartInSeconds`",
    tags: ["functions"],
    auth: ["server", "user"],
    query: z.object({ repo: z.string().regex(/^[^/]+\/[^/]+$/).optional() }),
    handler: async ({ query, principal }) => {
      const [owner, repo] = query.repo ? query.repo.split("/") : [null, null];
      const functions = await db.query(
        `select f.id, f.name, f.slug, f.runtime, f.branch, r.owner, r.name as repo,
                coalesce(json_agg(json_build_object('alias', a.name, 'deploymentId', a.deployment_id, 'version', d.version, 'pinned', a.pinned))
                  filter (where a.name is not null), '[]') as aliases,
                (select json_build_object('id', l.id, 'version', l.version, 'status', l.status, 'trigger', l.trigger, 'createdAt', l.created_at, 'error', l.error)
                   from deployments l where l.function_id = f.id order by l.created_at desc limit 1) as "lastDeployment"
           from functions f join repositories r on r.id = f.repository_id
           left join aliases a on a.function_id = f.id left join deployments d on d.id = a.deployment_id
          where ($1::text is null or (r.owner = $1 and r.name = $2))
          group by f.id, r.owner, r.name order by r.owner, r.name, f.name`,
        [owner, repo],
      );
      const allowed = await Promise.all(functions.rows.map((f) => access.accessTo(principal!, { owner: f.owner, repo: f.repo })));
      const visible = functions.rows.flatMap((f, i) => (allowed[i]!.canRead ? [{ ...f, canDeploy: allowed[i]!.canDeploy }] : []));
      const health = visible.length ? await listRuntimeHealth(db, { functionIds: visible.map((f) => f.id), servedOnly: true }) : [];
      return {
        functions: visible.map((f) => ({
          ...f,
          url: functionUrl(deps.config.publicUrl, f.slug),
          aliases: (f.aliases as { alias: string }[]).map((a) => ({ ...a, url: functionUrl(deps.config.publicUrl, f.slug, a.alias) })),
          repositoryUrl: `${githubWebUrl(deps.github.GITHUB_API_URL)}/${f.owner}/${f.repo}`,
          runtimeHealth: health.filter((h) => h.functionId === f.id),
        })),
      };
    },
  });

  api.route({
    method: "GET",
    path: "/v1/deployments",
    summary: "List deployments, newest first; `runtimeHealth` is a deployment's recent runtime restarts and crash loop, or null",
    tags: ["deployments"],
    auth: ["server", "user"],
    query: z.object({
      functionId: z.uuid().optional(),
      status: z.enum(["queued", "building", "ready", "failed", "cancelled"]).optional(),
      limit: z.coerce.number().int().min(1).max(500).default(50),
    }),
    handler: async ({ query, principal }) => {
      const rows = await db.query<{ id: string; owner: string; repo: string }>(
        `select ${deploymentColumns} from deployments d join functions f on f.id = d.function_id join repositories r on r.id = f.repository_id
          where ($1::uuid is null or d.function_id = $1) and ($2::text is null or d.status = $2)
          order by d.created_at desc limit $3`,
        [query.functionId ?? null, query.status ?? null, query.limit],
      );
      const allowed = await Promise.all(rows.rows.map((d) => access.accessTo(principal!, d)));
      return { deployments: await withRuntimeHealth(db, rows.rows.filter((_, i) => allowed[i]!.canRead)) };
    },
  });

  api.route({
    method: "GET",
    path: "/v1/deployments/:deploymentId",
    summary:
      "One deployment, with its build log tail, `runtimeHealth` (its runtime's recent restarts, or null), the `aliases` it serves, what `production` serves, its `urls`, its `commit` (message, author, link; null for an upload) and whether the caller may act on it (`canDeploy`)",
    tags: ["deployments"],
    auth: ["server", "user"],
    handler: async ({ params, principal }) => {
      if (!z.uuid().safeParse(params.deploymentId).success) throw new ApiError(400, "deploymentId must be a UUID");
      const row = await db.query<{ id: string; owner: string; repo: string; commitSha: string; installationId: string; slug: string; functionId: string; status: string; logTail: string | null; root: string; runtime: string }>(
        `select ${deploymentColumns}, d.log_tail as "logTail", d.settled_at as "settledAt", d.created_via as "createdVia",
                d.root, f.slug, r.installation_id::text as "installationId"
           from deployments d join functions f on f.id = d.function_id join repositories r on r.id = f.repository_id where d.id = $1`,
        [params.deploymentId],
      );
      const found = row.rows[0];
      // Someone who cannot read the repository is told nothing about it, not even that it exists.
      const allowed = found ? await access.accessTo(principal!, found) : null;
      if (!found || !allowed!.canRead) throw new ApiError(404, `no deployment ${params.deploymentId}`);
      const aliases = await db.query<{ name: string; deploymentId: string; version: number; pinned: boolean }>(
        `select a.name, a.deployment_id as "deploymentId", d.version, a.pinned from aliases a join deployments d on d.id = a.deployment_id where a.function_id = $1 order by a.name`,
        [found.functionId],
      );
      const { slug, installationId, ...deployment } = found;
      const served = aliases.rows.filter((a) => a.deploymentId === found.id).map((a) => a.name);
      const production = aliases.rows.find((a) => a.name === "production") ?? null;
      return {
        ...(await withRuntimeHealth(db, [deployment]))[0],
        aliases: served,
        production: production && { deploymentId: production.deploymentId, version: production.version, pinned: production.pinned },
        urls: [...served.map((alias) => functionUrl(deps.config.publicUrl, slug, alias)), deploymentUrl(deps.config.publicUrl, found.id)],
        commit: await commitOf(deps, found),
        // What the check run annotates: compiler errors found in a failed build's log.
        annotations: found.status === "failed" && found.logTail ? parseBuildAnnotations(found.logTail, found.root, { runtime: found.runtime }) : [],
        canDeploy: allowed!.canDeploy,
      };
    },
  });
}
