// The REST API's write side for deployments: rollback, promote, unpin and redeploy, the
// same actions as the comment commands, recorded in the audit log as done `via: api`
// by the token's name; plus a deployment's build log, followed live while it builds.
import { z } from "zod";
import type { AppDependencies } from "../app/start-app.js";
import { DeploymentActionError } from "../deployments/deployment-action-error.js";
import { redeployFunction } from "../deployments/redeploy-function.js";
import { switchProduction } from "../deployments/switch-production.js";
import { reportProductionSwitchLater, switchedOf } from "../github/report-production-switch.js";
import { unpinProduction } from "../deployments/unpin-production.js";
import { buildLogKey, followBuildLog } from "../pipeline/build-log-stream.js";
import { listAudit } from "../store/audit-log.js";
import { ApiError, type ApiRouter } from "./create-api-router.js";

const uuid = z.uuid();

function functionIdFrom(params: Record<string, string>): string {
  if (!uuid.safeParse(params.functionId).success) throw new ApiError(400, "functionId must be a UUID; `GET /v1/functions` lists them");
  return params.functionId!;
}

async function asApiError<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DeploymentActionError) throw new ApiError(409, error.message);
    throw error;
  }
}

export function registerDeploymentActionRoutes(api: ApiRouter, deps: AppDependencies): void {
  const target = z.object({ target: z.string().min(1).max(64).optional() });

  for (const action of ["rollback", "promote"] as const) {
    api.route({
      method: "POST",
      path: `/v1/functions/:functionId/${action}`,
      summary:
        action === "rollback"
          ? "Serve an earlier ready deployment (default: the previous one) and pin production"
          : "Serve a ready deployment (default: the newest; or vN, a sha, a deployment id, pr-<n>) and unpin production",
      tags: ["deployments"],
      auth: ["server"],
      body: target,
      handler: ({ params, body, principal }) =>
        asApiError(() =>
          switchProduction(deps, { functionId: functionIdFrom(params), action, ...(body.target ? { target: body.target } : {}), actor: principal!.name, via: "api" }).then((result) => {
            reportProductionSwitchLater({ ...deps, github: deps.installations }, switchedOf(result, action, principal!.name));
            return result;
          }),
        ),
    });
  }

  api.route({
    method: "POST",
    path: "/v1/functions/:functionId/unpin",
    summary: "Let pushes go live again after a rollback",
    tags: ["deployments"],
    auth: ["server"],
    handler: ({ params, principal }) => asApiError(() => unpinProduction(deps.db, { functionId: functionIdFrom(params), actor: principal!.name, via: "api" }, deps.log)),
  });

  api.route({
    method: "POST",
    path: "/v1/functions/:functionId/redeploy",
    summary: "Build production's commit again as a new version",
    tags: ["deployments"],
    auth: ["server"],
    body: z.object({ noCache: z.boolean().default(false) }),
    handler: ({ params, body, principal }) =>
      asApiError(() => redeployFunction({ ...deps, github: deps.installations }, { functionId: functionIdFrom(params), noCache: body.noCache, actor: principal!.name })),
  });

  api.route({
    method: "GET",
    path: "/v1/functions/:functionId/audit",
    summary: "Who changed what this function serves, how and when",
    tags: ["functions"],
    auth: ["server"],
    query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
    handler: async ({ params, query }) => ({ entries: await listAudit(deps.db, functionIdFrom(params), query.limit) }),
  });

  api.route({
    method: "GET",
    path: "/v1/deployments/:deploymentId/logs",
    summary: "The build log as text; with follow=true, streamed until the build ends",
    tags: ["deployments"],
    auth: ["server"],
    query: z.object({ follow: z.enum(["true", "false", "1", "0"]).optional() }),
    handler: async ({ params, query, req, res }) => {
      if (!uuid.safeParse(params.deploymentId).success) throw new ApiError(400, "deploymentId must be a UUID");
      const statusOf = async () =>
        (await deps.db.query<{ status: string; log_tail: string | null; settled: boolean }>("select status, log_tail, settled_at is not null as settled from deployments where id = $1", [params.deploymentId])).rows[0];
      const initial = await statusOf();
      if (!initial) throw new ApiError(404, `no deployment ${params.deploymentId}`);
      const follow = query.follow === "true" || query.follow === "1";
      const building = initial.status === "queued" || initial.status === "building" || (initial.status === "ready" && !initial.settled);
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "x-deployment-status": initial.status });
      if (!follow || !building || !deps.redis) {
        res.end(initial.log_tail ?? "");
        return undefined;
      }
      const abort = new AbortController();
      req.on("close", () => abort.abort());
      // XREAD BLOCK holds its connection, so each follower gets its own.
      const connection = deps.redis.duplicate();
      const ended = await followBuildLog(connection, buildLogKey(deps.config.SLIPWAY_QUEUE_PREFIX, params.deploymentId!), (text) => res.write(text), {
        signal: abort.signal,
        // A ready build is over once its activation is decided, which follows `ready`.
        isOver: async () => {
          const now = await statusOf();
          return !now || now.status === "failed" || now.status === "cancelled" || (now.status === "ready" && now.settled);
        },
      }).finally(() => connection.disconnect());
      res.end(`\n[slipway] deployment ${ended ?? (await statusOf())?.status ?? "ended"}\n`);
      return undefined;
    },
  });
}
