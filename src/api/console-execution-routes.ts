// The console's view of a function's executions, served by the app so the console reaches it
// from its own origin with its session (the executions API itself is the gateway's). Anyone
// who can read the repository sees each execution's trigger, status, request line, response
// status, duration, logs and errors; request and response headers and bodies stay out, since
// a caller's credentials travel in them. Server tokens may use it too. Also the function's
// metrics at a glance (builds and executions over the last 24 h) for the console's charts.
import { z } from "zod";
import type { AppDependencies } from "../app/start-app.js";
import type { RepositoryAccessChecker } from "../console/repository-access.js";
import { listExecutions } from "../store/executions.js";
import { functionMetrics } from "../store/function-metrics.js";
import { ApiError, type ApiRouter } from "./create-api-router.js";

export function registerConsoleExecutionRoutes(api: ApiRouter, deps: AppDependencies, access: RepositoryAccessChecker): void {
  async function requireReader(principal: Parameters<RepositoryAccessChecker["accessTo"]>[0], functionId: string | undefined): Promise<string> {
    if (!z.uuid().safeParse(functionId).success) throw new ApiError(400, "functionId must be a UUID; `GET /v1/functions` lists them");
    const row = (await deps.db.query<{ owner: string; repo: string }>("select r.owner, r.name as repo from functions f join repositories r on r.id = f.repository_id where f.id = $1", [functionId])).rows[0];
    if (!row || !(await access.accessTo(principal, row)).canRead) throw new ApiError(404, `no function ${functionId}`);
    return functionId!;
  }

  api.route({
    method: "GET",
    path: "/v1/console/functions/:functionId/metrics",
    summary: "A function's last 24 h: each build's duration and outcome, executions per minute with errors and p95 duration, and totals",
    tags: ["functions"],
    auth: ["server", "user"],
    handler: async ({ params, principal }) => functionMetrics(deps.db, await requireReader(principal!, params.functionId)),
  });

  api.route({
    method: "GET",
    path: "/v1/console/functions/:functionId/executions",
    summary: "A function's executions for the console, newest first: trigger, status, request line, response status, duration, logs and errors (no headers or bodies)",
    tags: ["executions"],
    auth: ["server", "user"],
    query: z.object({
      status: z.enum(["scheduled", "waiting", "processing", "completed", "failed", "timed_out"]).optional(),
      trigger: z.enum(["http", "sync", "async", "schedule", "event"]).optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
    }),
    handler: async ({ params, query, principal }) => {
      const functionId = await requireReader(principal!, params.functionId);
      const executions = await listExecutions(deps.db, { functionId, status: query.status, trigger: query.trigger, limit: query.limit });
      return {
        executions: executions.map((e) => ({
          id: e.id,
          deploymentId: e.deploymentId,
          trigger: e.trigger,
          status: e.status,
          event: e.event,
          requestMethod: e.requestMethod,
          requestPath: e.requestPath,
          responseStatusCode: e.responseStatusCode,
          durationMs: e.durationMs,
          logs: e.logs,
          errors: e.errors,
          scheduledAt: e.scheduledAt,
          createdAt: e.createdAt,
          finishedAt: e.finishedAt,
        })),
      };
    },
  });
}
