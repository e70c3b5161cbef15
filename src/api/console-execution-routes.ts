// The console's view of a function's executions, served by the app so the console reaches it
// from its own origin with its session (the executions API itself is the gateway's). Anyone
// who can read the repository sees each execution's trigger, status, request line, response
// status, duration, logs and errors; request and response headers and bodies stay out, since
// a caller's credentials travel in them. Server tokens may use it too. The list and a single
// execution are also Server-Sent Events, sent again whenever Postgres says the function's
// executions changed (listen-for-execution-changes.ts): the console's live tail. Also the
// function's metrics at a glance (builds and executions over the last 24 h) for its charts.
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import type { AppDependencies } from "../app/start-app.js";
import type { RepositoryAccessChecker } from "../console/repository-access.js";
import { getExecution, listExecutions, type ExecutionRecord } from "../store/executions.js";
import { functionMetrics } from "../store/function-metrics.js";
import { listenForExecutionChanges } from "../store/listen-for-execution-changes.js";
import { ApiError, type ApiRouter } from "./create-api-router.js";

const finishedStatuses = new Set(["completed", "failed", "timed_out"]);
// A stream says something at least this often, so proxies and browsers keep it open.
const heartbeatMs = 20_000;
// Under a stream of calls, a console is sent the list at most this often.
const minimumSpacingMs = 500;

/** What the console may see of an execution. */
function consoleExecution(e: ExecutionRecord) {
  return {
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
    startedAt: e.startedAt,
    finishedAt: e.finishedAt,
  };
}

const listQuery = z.object({
  status: z.enum(["scheduled", "waiting", "processing", "completed", "failed", "timed_out"]).optional(),
  trigger: z.enum(["http", "sync", "async", "schedule", "event"]).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** The console's Server-Sent Events streams, so the app can end them when it stops. */
function createEventStreams() {
  const open = new Set<() => void>();
  return {
    /**
     * Starts an event stream on `res`; `send` writes one event. The returned `ended` promise
     * settles when the client goes or the app stops; `end` ends it from this side.
     */
    start(req: IncomingMessage, res: ServerResponse) {
      res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" });
      let finish!: () => void;
      const ended = new Promise<void>((resolve) => (finish = resolve));
      const end = () => {
        if (!open.delete(end)) return;
        clearInterval(heartbeat);
        res.end();
        finish();
      };
      open.add(end);
      const heartbeat = setInterval(() => res.write(": still here\n\n"), heartbeatMs);
      req.on("close", end);
      const send = (event: string, data: unknown) => {
        if (!res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      return { send, end, ended };
    },
    closeAll() {
      for (const end of [...open]) end();
    },
  };
}

/**
 * Runs `work` now and again after each `changed()`, one run at a time: changes that come
 * while it runs lead to one more run, at least `minimumSpacingMs` after the last.
 */
function coalesce(work: () => Promise<void>, onError: (error: unknown) => void) {
  let running = false;
  let again = false;
  const run = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await work();
    } catch (error) {
      onError(error);
    }
    await new Promise((resolve) => setTimeout(resolve, minimumSpacingMs));
    running = false;
    if (again) {
      again = false;
      await run();
    }
  };
  return run;
}

export function registerConsoleExecutionRoutes(api: ApiRouter, deps: AppDependencies, access: RepositoryAccessChecker): { close(): Promise<void> } {
  const changes = listenForExecutionChanges(deps.db, { onError: (error) => deps.log.warn({ err: { message: error.message } }, "listening for execution changes failed; trying again") });
  const streams = createEventStreams();
  type Principal = Parameters<RepositoryAccessChecker["accessTo"]>[0];

  async function requireReader(principal: Principal, functionId: string | undefined): Promise<string> {
    if (!z.uuid().safeParse(functionId).success) throw new ApiError(400, "functionId must be a UUID; `GET /v1/functions` lists them");
    const row = (await deps.db.query<{ owner: string; repo: string }>("select r.owner, r.name as repo from functions f join repositories r on r.id = f.repository_id where f.id = $1", [functionId])).rows[0];
    if (!row || !(await access.accessTo(principal, row)).canRead) throw new ApiError(404, `no function ${functionId}`);
    return functionId!;
  }

  async function readableExecution(principal: Principal, executionId: string | undefined) {
    if (!z.uuid().safeParse(executionId).success) throw new ApiError(400, "executionId must be a UUID; the console's executions list links each one");
    const execution = await getExecution(deps.db, executionId!);
    if (!execution) throw new ApiError(404, `no execution ${executionId}`);
    const owner = (
      await deps.db.query<{ functionName: string; owner: string; repo: string; deploymentVersion: number | null }>(
        `select f.name as "functionName", r.owner, r.name as repo, d.version as "deploymentVersion"
           from functions f join repositories r on r.id = f.repository_id left join deployments d on d.id = $2
          where f.id = $1`,
        [execution.functionId, execution.deploymentId],
      )
    ).rows[0];
    if (!owner || !(await access.accessTo(principal, owner)).canRead) throw new ApiError(404, `no execution ${executionId}`);
    return { ...consoleExecution(execution), functionId: execution.functionId, ...owner };
  }

  const listOf = async (functionId: string, query: z.infer<typeof listQuery>) => ({
    executions: (await listExecutions(deps.db, { functionId, status: query.status, trigger: query.trigger, limit: query.limit })).map(consoleExecution),
  });

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
    query: listQuery,
    handler: async ({ params, query, principal }) => listOf(await requireReader(principal!, params.functionId), query),
  });

  api.route({
    method: "GET",
    path: "/v1/console/functions/:functionId/execution-events",
    summary:
      "A live tail of a function's executions as Server-Sent Events: an `executions` event ({ executions }, as the list returns them, with the same filters) at once and again whenever they change",
    tags: ["executions"],
    auth: ["server", "user"],
    query: listQuery,
    handler: async ({ params, query, req, res, principal }) => {
      const functionId = await requireReader(principal!, params.functionId);
      const stream = streams.start(req, res);
      const send = coalesce(async () => stream.send("executions", await listOf(functionId, query)), (error) => deps.log.warn({ err: error }, "could not read executions for a live tail"));
      const unsubscribe = await changes.subscribe(functionId, () => void send());
      void send();
      await stream.ended;
      unsubscribe();
      return undefined;
    },
  });

  api.route({
    method: "GET",
    path: "/v1/console/executions/:executionId",
    summary: "One execution for the console: its function, deployment version, trigger, status, request line, response status, duration, logs and errors (no headers or bodies)",
    tags: ["executions"],
    auth: ["server", "user"],
    handler: async ({ params, principal }) => readableExecution(principal!, params.executionId),
  });

  api.route({
    method: "GET",
    path: "/v1/console/executions/:executionId/events",
    summary:
      "One execution as Server-Sent Events: an `execution` event (as GET /v1/console/executions/{executionId} returns it) at once and whenever it changes, then `end` ({ status }) once it has finished",
    tags: ["executions"],
    auth: ["server", "user"],
    handler: async ({ params, req, res, principal }) => {
      const first = await readableExecution(principal!, params.executionId);
      const stream = streams.start(req, res);
      let last = "";
      const send = coalesce(
        async () => {
          const now = await readableExecution(principal!, params.executionId);
          const text = JSON.stringify(now);
          if (text !== last) stream.send("execution", now);
          last = text;
          if (finishedStatuses.has(now.status)) {
            stream.send("end", { status: now.status });
            stream.end();
          }
        },
        (error) => deps.log.warn({ err: error }, "could not read an execution for the console"),
      );
      const unsubscribe = await changes.subscribe(first.functionId, () => void send());
      void send();
      await stream.ended;
      unsubscribe();
      return undefined;
    },
  });

  return {
    async close() {
      streams.closeAll();
      await changes.close();
    },
  };
}
