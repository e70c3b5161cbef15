// The REST API's write side for deployments: rollback, promote, unpin and redeploy, the
// same actions as the comment commands, recorded in the audit log as done `via: api`
// by the token's name (or `via: console` by a signed-in GitHub user with write access); plus
// a deployment's build log, followed live while it builds: as text, or as Server-Sent Events
// for the console's deployment page.
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import type { Principal } from "./api-tokens.js";
import type { AppDependencies } from "../app/start-app.js";
import type { RepositoryAccessChecker } from "../console/repository-access.js";
import { describeMissingAccess } from "../github/chatops/can-run-command.js";
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

type LogState = { status: string; log_tail: string | null; settled: boolean };

/**
 * Streams a deployment's build log: what is written from now until the build ends, or, when
 * it has ended (or nothing can follow it), the stored log at once. `write` gets each piece.
 */
async function streamBuildLog(
  deps: AppDependencies,
  deploymentId: string,
  follow: boolean,
  req: IncomingMessage,
  start: (initial: LogState) => void,
  write: (text: string) => void,
): Promise<string | null> {
  const statusOf = async () =>
    (await deps.db.query<LogState>("select status, log_tail, settled_at is not null as settled from deployments where id = $1", [deploymentId])).rows[0];
  const initial = await statusOf();
  if (!initial) throw new ApiError(404, `no deployment ${deploymentId}`);
  const building = initial.status === "queued" || initial.status === "building" || (initial.status === "ready" && !initial.settled);
  start(initial);
  if (!follow || !building || !deps.redis) {
    if (initial.log_tail) write(initial.log_tail);
    return null;
  }
  const abort = new AbortController();
  req.on("close", () => abort.abort());
  // XREAD BLOCK holds its connection, so each follower gets its own.
  const connection = deps.redis.duplicate();
  const ended = await followBuildLog(connection, buildLogKey(deps.config.SLIPWAY_QUEUE_PREFIX, deploymentId), write, {
    signal: abort.signal,
    // A ready build is over once its activation is decided, which follows `ready`.
    isOver: async () => {
      const now = await statusOf();
      return !now || now.status === "failed" || now.status === "cancelled" || (now.status === "ready" && now.settled);
    },
  }).finally(() => connection.disconnect());
  return ended ?? (await statusOf())?.status ?? "ended";
}

function sendEvent(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

export function registerDeploymentActionRoutes(api: ApiRouter, deps: AppDependencies, access: RepositoryAccessChecker): void {
  const target = z.object({ target: z.string().min(1).max(64).optional() });

  /** The function's repository, once the principal may do `need` in it; a user who may not read it learns nothing. */
  async function requireAccess(principal: Principal, where: { functionId: string } | { deploymentId: string }, need: "read" | "deploy", action = "this") {
    const row = (
      await deps.db.query<{ owner: string; repo: string }>(
        "functionId" in where
          ? "select r.owner, r.name as repo from functions f join repositories r on r.id = f.repository_id where f.id = $1"
          : "select r.owner, r.name as repo from deployments d join functions f on f.id = d.function_id join repositories r on r.id = f.repository_id where d.id = $1",
        ["functionId" in where ? where.functionId : where.deploymentId],
      )
    ).rows[0];
    if (!row) return;
    const allowed = await access.accessTo(principal, row);
    if (!allowed.canRead) throw new ApiError(404, "functionId" in where ? `no function ${where.functionId}` : `no deployment ${where.deploymentId}`);
    if (need === "deploy" && !allowed.canDeploy) {
      throw new ApiError(403, `${describeMissingAccess(principal.name, { canDeploy: false, role: "read" }, `${row.owner}/${row.repo}`, action)}.`);
    }
  }
  const via = (principal: Principal): "console" | "api" => (principal.kind === "user" ? "console" : "api");

  for (const action of ["rollback", "promote"] as const) {
    api.route({
      method: "POST",
      path: `/v1/functions/:functionId/${action}`,
      summary:
        action === "rollback"
          ? "Serve an earlier ready deployment (default: the previous one) and pin production"
          : "Serve a ready deployment (default: the newest; or vN, a sha, a deployment id, pr-<n>) and unpin production",
      tags: ["deployments"],
      auth: ["server", "user"],
      body: target,
      handler: async ({ params, body, principal }) => {
        await requireAccess(principal!, { functionId: functionIdFrom(params) }, "deploy", action);
        return asApiError(() =>
          switchProduction(deps, { functionId: functionIdFrom(params), action, ...(body.target ? { target: body.target } : {}), actor: principal!.name, via: via(principal!) }).then((result) => {
            reportProductionSwitchLater({ ...deps, github: deps.installations }, switchedOf(result, action, principal!.name));
            return result;
          }),
        );
      },
    });
  }

  api.route({
    method: "POST",
    path: "/v1/functions/:functionId/unpin",
    summary: "Let pushes go live again after a rollback",
    tags: ["deployments"],
    auth: ["server", "user"],
    handler: async ({ params, principal }) => {
      await requireAccess(principal!, { functionId: functionIdFrom(params) }, "deploy", "unpin");
      return asApiError(() => unpinProduction(deps.db, { functionId: functionIdFrom(params), actor: principal!.name, via: via(principal!) }, deps.log));
    },
  });

  api.route({
    method: "POST",
    path: "/v1/functions/:functionId/redeploy",
    summary: "Build production's commit again as a new version",
    tags: ["deployments"],
    auth: ["server", "user"],
    body: z.object({ noCache: z.boolean().default(false) }),
    handler: async ({ params, body, principal }) => {
      await requireAccess(principal!, { functionId: functionIdFrom(params) }, "deploy", "redeploy");
      return asApiError(() => redeployFunction({ ...deps, github: deps.installations }, { functionId: functionIdFrom(params), noCache: body.noCache, actor: principal!.name, via: via(principal!) }));
    },
  });

  api.route({
    method: "GET",
    path: "/v1/functions/:functionId/audit",
    summary: "Who changed what this function serves, how and when",
    tags: ["functions"],
    auth: ["server", "user"],
    query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
    handler: async ({ params, query, principal }) => {
      await requireAccess(principal!, { functionId: functionIdFrom(params) }, "read");
      return { entries: await listAudit(deps.db, functionIdFrom(params), query.limit) };
    },
  });

  api.route({
    method: "GET",
    path: "/v1/deployments/:deploymentId/logs",
    summary: "The build log as text; with follow=true, streamed until the build ends",
    tags: ["deployments"],
    auth: ["server", "user"],
    query: z.object({ follow: z.enum(["true", "false", "1", "0"]).optional() }),
    handler: async ({ params, query, req, res, principal }) => {
      if (!uuid.safeParse(params.deploymentId).success) throw new ApiError(400, "deploymentId must be a UUID");
      await requireAccess(principal!, { deploymentId: params.deploymentId! }, "read");
      const follow = query.follow === "true" || query.follow === "1";
      const ended = await streamBuildLog(deps, params.deploymentId!, follow, req, (initial) => res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "x-deployment-status": initial.status }), (text) => res.write(text));
      res.end(ended ? `\n[slipway] deployment ${ended}\n` : undefined);
      return undefined;
    },
  });

  api.route({
    method: "GET",
    path: "/v1/deployments/:deploymentId/log-events",
    summary:
      "The build log as Server-Sent Events: `status` first ({ status }), then `log` events (each a JSON string of new output) as the build writes them, then `end` ({ status }) when the build is over; a finished build sends its whole stored log and `end` at once",
    tags: ["deployments"],
    auth: ["server", "user"],
    handler: async ({ params, req, res, principal }) => {
      if (!uuid.safeParse(params.deploymentId).success) throw new ApiError(400, "deploymentId must be a UUID");
      await requireAccess(principal!, { deploymentId: params.deploymentId! }, "read");
      let status = "";
      const ended = await streamBuildLog(
        deps,
        params.deploymentId!,
        true,
        req,
        (initial) => {
          status = initial.status;
          res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" });
          sendEvent(res, "status", { status });
        },
        (text) => sendEvent(res, "log", text),
      );
      sendEvent(res, "end", { status: ended ?? status });
      res.end();
      return undefined;
    },
  });
}
