// The executions API, served by the gateway: run a function synchronously, asynchronously
// or at a set time, read executions back, and publish events. Who may execute is decided
// by canExecute from the function's `execute:` settings, as on its URL. An execution key
// scoped to a deployment other than production's (a preview's) may neither run production,
// read its executions nor publish events that would run production functions.
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { z } from "zod";
import type { Principal } from "../api/api-tokens.js";
import { ApiError, sendJson, type ApiRouter } from "../api/create-api-router.js";
import type { Queryable } from "../store/create-database.js";
import type { DeploymentSettings } from "../store/deployment-settings.js";
import { getExecution, listExecutions, type ExecutionRecord } from "../store/executions.js";
import type { Caller } from "./can-execute.js";
import { publishEvent, type ExecutionQueues } from "./execution-queues.js";
import { functionInstallation } from "./find-triggered-functions.js";
import { eventNamePattern } from "./match-event-pattern.js";
import type { ExecutionContext } from "./run-execution.js";
import { startFunctionExecution } from "./start-function-execution.js";

export type ExecutionRouteDependencies = {
  db: Queryable;
  queues: ExecutionQueues;
  context: ExecutionContext;
  /** The function (by id or slug) and the settings of what serves it in production, from the gateway's cache. */
  findFunction(idOrSlug: string): Promise<{ functionId: string; deploymentId: string; settings: DeploymentSettings } | null>;
};

const executionBody = z.object({
  body: z.string().max(20 * 1024 * 1024).default(""),
  path: z.string().startsWith("/").max(2048).default("/"),
  method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]).default("POST"),
  headers: z.record(z.string(), z.string()).default({}),
  async: z.boolean().default(false),
  scheduledAt: z.iso.datetime({ offset: true }).optional(),
});

export function callerOf(req: IncomingMessage, principal: Principal | null): Caller {
  if (principal) return { kind: "token", principal };
  return req.headers.authorization ? { kind: "invalid" } : { kind: "anonymous" };
}

export function mayRead(principal: Principal | null, execution: { functionId: string; deploymentId: string | null; createdBy: string | null }): boolean {
  if (!principal) return false;
  if (principal.kind === "server") return true;
  if (principal.kind === "execution" && principal.deploymentId) return principal.functionId === execution.functionId && principal.deploymentId === execution.deploymentId;
  if (principal.kind === "execution") return principal.functionId === execution.functionId;
  return execution.createdBy === principal.tokenId;
}

function present(execution: ExecutionRecord): Omit<ExecutionRecord, "createdBy"> {
  const { createdBy: _createdBy, ...rest } = execution;
  return rest;
}

export function registerExecutionRoutes(api: ApiRouter, deps: ExecutionRouteDependencies): void {
  const { db, queues } = deps;

  async function requireFunction(idOrSlug: string) {
    const found = await deps.findFunction(idOrSlug);
    if (!found) throw new ApiError(404, `no function '${idOrSlug}' is deployed in production`);
    return found;
  }

  api.route({
    method: "POST",
    path: "/v1/functions/:functionId/executions",
    summary: "Execute a function: synchronously (waits up to its timeout, 30 s at most), asynchronously, or at `scheduledAt`",
    tags: ["executions"],
    auth: "custom",
    body: executionBody,
    handler: async ({ req, res, params, body, principal }) => {
      const target = await requireFunction(params.functionId!);
      const request = { method: body.method, path: body.path, headers: body.headers, body: body.body };
      const started = await startFunctionExecution(deps, target, callerOf(req, principal), principal, { request, async: body.async, scheduledAt: body.scheduledAt });
      if (!started.ok) throw new ApiError(started.status, started.message);
      sendJson(res, started.queued ? 202 : 201, present(started.execution));
      return undefined;
    },
  });

  api.route({
    method: "GET",
    path: "/v1/executions/:executionId",
    summary: "One execution: status, response, logs and errors",
    tags: ["executions"],
    auth: ["server", "client", "execution"],
    handler: async ({ params, principal }) => {
      if (!z.uuid().safeParse(params.executionId).success) throw new ApiError(400, "executionId must be a UUID");
      const execution = await getExecution(db, params.executionId!);
      if (!execution || !mayRead(principal, execution)) throw new ApiError(404, `no execution ${params.executionId} that this token may read`);
      return present(execution);
    },
  });

  api.route({
    method: "GET",
    path: "/v1/functions/:functionId/executions",
    summary: "A function's executions, newest first (a client token sees the ones it started)",
    tags: ["executions"],
    auth: ["server", "client", "execution"],
    query: z.object({
      status: z.enum(["scheduled", "waiting", "processing", "completed", "failed", "timed_out"]).optional(),
      trigger: z.enum(["http", "sync", "async", "schedule", "event"]).optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
    }),
    handler: async ({ params, query, principal }) => {
      const target = await requireFunction(params.functionId!);
      if (principal!.kind === "execution" && principal!.functionId !== target.functionId) throw new ApiError(403, "an execution key may read only its own function's executions");
      if (principal!.kind === "execution" && principal!.deploymentId && principal!.deploymentId !== target.deploymentId) throw new ApiError(403, "this execution key works for its own deployment only, not production");
      const createdBy = principal!.kind === "client" ? principal!.tokenId : undefined;
      const executions = await listExecutions(db, { functionId: target.functionId, status: query.status, trigger: query.trigger, createdBy, limit: query.limit });
      return { executions: executions.map(present) };
    },
  });

  api.route({
    method: "POST",
    path: "/v1/events",
    summary: "Publish an event; functions whose `events:` match it run asynchronously with it",
    tags: ["events"],
    auth: ["server", "execution"],
    body: z.object({ name: z.string().max(200).regex(eventNamePattern, "must be dot-separated segments of letters, digits, '_' and '-'"), payload: z.unknown().optional() }),
    handler: async ({ res, body, principal }) => {
      if (body.name.startsWith("deployments.")) throw new ApiError(400, "event names starting with 'deployments.' are Slipway's own");
      // Events run production functions, so a key handed to another deployment may not publish.
      if (principal!.kind === "execution" && principal!.deploymentId && (await deps.findFunction(principal!.functionId!))?.deploymentId !== principal!.deploymentId) {
        throw new ApiError(403, "this execution key works for its own deployment only; only production's may publish events");
      }
      // A function's own key publishes within its installation; a server key to all.
      const installationId = principal!.kind === "execution" ? await functionInstallation(db, principal!.functionId!) : null;
      const eventId = randomUUID();
      await publishEvent(queues.events, { eventId, name: body.name, payload: body.payload ?? null, installationId });
      sendJson(res, 202, { id: eventId, name: body.name });
      return undefined;
    },
  });
}
