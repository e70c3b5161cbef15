// Owns everything the gateway does for executions, so start-gateway.ts only wires it in:
// the executions API routes, the BullMQ consumers (async, delayed, scheduled and event
// executions), schedule registration on activation, the variables a runtime container
// starts with, and the per-request work on function URLs (permission check, headers,
// timeout, execution record with its logs, collected after the response).
import type { IncomingMessage } from "node:http";
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Dispatcher } from "undici";
import type { ApiRouter } from "../api/create-api-router.js";
import type { Config } from "../config/load-config.js";
import { createLogFileCollector } from "../gateway/create-log-file-collector.js";
import type { DataPlaneCall } from "../gateway/nginx-data-plane.js";
import type { RunningRuntime } from "../gateway/runtime-containers.js";
import type { RuntimeEngine } from "../gateway/runtime-engine.js";
import type { Database } from "../store/create-database.js";
import { getDeploymentSettings, type DeploymentSettings } from "../store/deployment-settings.js";
import { createMasterKeyring } from "../variables/master-keyring.js";
import { resolveFunctionEnvironment, toEnvList } from "../variables/resolve-function-environment.js";
import { createFunctionCallGuard, type HttpExecutionRow } from "./create-function-call-guard.js";
import { createExecutionQueues, syncFunctionSchedule } from "./execution-queues.js";
import { appwriteApiPrefix, appwriteApiVersion, registerAppwriteExecutionRoutes } from "./appwrite-execution-routes.js";
import { appwriteFunctionEnvironment } from "./appwrite-function-environment.js";
import { registerExecutionRoutes } from "./execution-routes.js";
import { functionUrlCallHeaders } from "../gateway/function-url-call-headers.js";
import { executionTimeoutSeconds, runtimeReportedTimeout, type ExecutionContext } from "./run-execution.js";
import { startExecutionConsumers } from "./start-execution-consumers.js";

/** How long after a call its runtime never answered its log files are read. */
const unansweredSettleMs = 1500;

/** What serves a function in production: here, or on the gateway nodes placement gives it (its runtime is started here when a call needs it). */
export type ServedRoute = { functionId: string; deploymentId: string; settings: DeploymentSettings };

export type GatewayExecutionDependencies = {
  config: Config;
  db: Database;
  /** Where runtimes run: the log files of calls are read or taken out of them through it. */
  engine: Pick<RuntimeEngine, "takeLogFiles" | "readLogFiles" | "receivedCall">;
  connection: Redis;
  dispatcher: Dispatcher;
  api: ApiRouter;
  log: Logger;
  /** What serves the function (by id or slug) in production now, if anything. */
  findProduction(idOrSlug: string): ServedRoute | null;
  /** What serves each function deployed from an appwrite.json with this `$id` in production now. */
  findProductionByAppwriteId(appwriteId: string): ServedRoute[];
  /** Reads the function's routes from Postgres, for when another gateway's announcement has not arrived yet. */
  refreshRoutes(functionId: string): Promise<void>;
  ensureRuntime(deploymentId: string): Promise<RunningRuntime>;
  forgetRuntime(deploymentId: string): void;
};

export type CallRoute = { deploymentId: string; runtime: RunningRuntime; functionId?: string; settings?: DeploymentSettings };

export type FunctionCall =
  | { refused: true; status: 401 | 403; message: string }
  | {
      refused: false;
      executionId: string;
      /** The function's own `timeout:` (the global default without one), at most the sync ceiling. */
      timeoutSeconds: number;
      /** What the runtime receives for the call (see call-contract.ts), the client's own headers included. */
      headers: Record<string, string | string[]>;
      /** The response went out (with statusCode); timedOut when it was the gateway's 504. */
      finish(statusCode: number, logId: unknown, timedOut?: boolean): void;
      fail(error: unknown, timedOut?: boolean): void;
    };

export async function createGatewayExecutions(deps: GatewayExecutionDependencies) {
  const { config, db, log } = deps;
  const keyring = createMasterKeyring(config.SLIPWAY_MASTER_KEY, config.SLIPWAY_MASTER_KEY_PREVIOUS);
  const guard = createFunctionCallGuard({ db, log, nodeId: config.gatewayNodeId });
  const logFiles = createLogFileCollector({ engine: deps.engine, log });
  const queues = createExecutionQueues(deps.connection, config.SLIPWAY_QUEUE_PREFIX);
  // Settings of deployments served by immutable URLs (/d/<id>/), which have no route entry.
  const settingsByDeployment = new Map<string, Promise<{ functionId: string; settings: DeploymentSettings }>>();

  const context: ExecutionContext = {
    nodeId: config.gatewayNodeId,
    db,
    engine: deps.engine,
    dispatcher: deps.dispatcher,
    log,
    defaultTimeoutSeconds: config.SLIPWAY_EXECUTION_TIMEOUT_SECONDS,
    apiUrl: config.publicUrl,
    async resolveTarget(functionId) {
      // A tick or an async run can reach this gateway just before the news of the
      // function's first activation does; Postgres has the truth.
      let route = deps.findProduction(functionId);
      if (!route) {
        await deps.refreshRoutes(functionId);
        route = deps.findProduction(functionId);
      }
      if (!route) throw new Error("no deployment serves this function in production");
      const runtime = await deps.ensureRuntime(route.deploymentId);
      return { ...route, runtime };
    },
    onRuntimeFailure: (deploymentId) => deps.forgetRuntime(deploymentId),
    releaseLogFiles: (containerId, logId) => logFiles.release(containerId, logId),
  };

  registerExecutionRoutes(deps.api, {
    db,
    queues,
    context,
    findFunction: async (idOrSlug) => {
      const route = deps.findProduction(idOrSlug);
      return route ? { functionId: route.functionId, deploymentId: route.deploymentId, settings: route.settings } : null;
    },
  });

  registerAppwriteExecutionRoutes(deps.api, {
    db,
    queues,
    context,
    projectId: config.SLIPWAY_APPWRITE_PROJECT_ID,
    findFunction: async (idOrSlug) => {
      const byAppwriteId = deps.findProductionByAppwriteId(idOrSlug);
      if (byAppwriteId.length > 1) return { ambiguous: byAppwriteId.map((route) => route.functionId) };
      const route = byAppwriteId[0] ?? deps.findProduction(idOrSlug);
      if (!route) return null;
      return { found: { functionId: route.functionId, deploymentId: route.deploymentId, settings: route.settings, appwriteId: route.settings.appwrite?.functionId ?? idOrSlug } };
    },
  });

  // Started once the gateway has restored its routes, so a queued execution never finds
  // its function missing just because this gateway is still starting.
  let consumers: Awaited<ReturnType<typeof startExecutionConsumers>> | null = null;
  const startConsumers = async (node: { bootedAt: Date }) => {
    consumers ??= await startExecutionConsumers({
    node: { id: config.gatewayNodeId, bootedAt: node.bootedAt, lostAfterSeconds: config.SLIPWAY_GATEWAY_NODE_LOST_SECONDS },
    db,
    connection: deps.connection,
    prefix: config.SLIPWAY_QUEUE_PREFIX,
    queues,
    context,
    concurrency: config.SLIPWAY_EXECUTION_CONCURRENCY,
    lockSeconds: config.SLIPWAY_WORKER_LOCK_SECONDS,
    sweepIntervalSeconds: 30,
    reconcileIntervalSeconds: 3,
    scheduleReconcileSeconds: config.SLIPWAY_SCHEDULE_RECONCILE_SECONDS,
    log,
  });
  };

  function settingsOf(deploymentId: string) {
    let pending = settingsByDeployment.get(deploymentId);
    if (!pending) {
      pending = (async () => {
        const row = await db.query<{ functionId: string }>(`select function_id as "functionId" from deployments where id = $1`, [deploymentId]);
        return { functionId: row.rows[0]?.functionId ?? "", settings: await getDeploymentSettings(db, deploymentId) };
      })();
      settingsByDeployment.set(deploymentId, pending);
      pending.catch(() => settingsByDeployment.delete(deploymentId));
    }
    return pending;
  }

  // After the response: the row is written once the call's log files are read (and
  // removed), which the collector does in batches, so nothing here waits on Docker.
  // A call is sent with its execution id as the log id and `x-open-runtimes-log-files:
  // lazy`, so the runtime makes the files only when something is written, and says so by
  // returning the log id. A call the runtime never answered (a timeout, a lost connection)
  // is looked for by its execution id, once the runtime has stopped it (`settleMs`).
  function record(containerId: string, row: Omit<HttpExecutionRow, "status" | "logs" | "errors">, status: HttpExecutionRow["status"], note: string, settleMs = 0): void {
    const settled = settleMs > 0 ? new Promise((resolve) => setTimeout(resolve, settleMs)) : Promise.resolve();
    const collected = row.logId === null ? Promise.resolve({ logs: "", errors: "" }) : settled.then(() => logFiles.collect(containerId, row.logId!));
    void collected.then((files) => {
      const timedOut = status === "timed_out" || (status === "failed" && runtimeReportedTimeout(files.errors));
      guard.record({ ...row, status: timedOut ? "timed_out" : status, logs: files.logs, errors: [files.errors.trimEnd(), note].filter(Boolean).join("\n") });
    });
  }

  /** A call nginx served by itself (SLIPWAY_DATA_PLANE=nginx), recorded from its access log line. */
  function recordDataPlaneCall(call: DataPlaneCall): void {
    const row = {
      id: call.executionId,
      functionId: call.functionId,
      deploymentId: call.deploymentId,
      method: call.method,
      path: call.path,
      startedAt: call.startedAt,
      durationMs: call.durationMs,
      statusCode: call.outcome === "unreachable" ? null : call.statusCode,
      logId: call.outcome === "answered" ? call.logId : call.executionId,
    };
    // nginx gives up on a call one second before the runtime does (see nginx-data-plane.ts).
    if (call.outcome === "timed_out") record(call.containerId, row, "timed_out", `Execution timed out after ${call.timeoutSeconds} s.`, unansweredSettleMs);
    else if (call.outcome === "unreachable") record(call.containerId, row, "failed", "the function did not answer", unansweredSettleMs);
    else record(call.containerId, row, call.statusCode >= 500 ? "failed" : "completed", "");
  }

  function call(req: IncomingMessage, route: { functionId: string; deploymentId: string; containerId: string; secret: string; settings: DeploymentSettings }, path: string, key: string): FunctionCall {
    const executionId = randomUUID();
    const started = performance.now();
    const startedAt = new Date();
    const timeoutSeconds = executionTimeoutSeconds(route.settings, config.SLIPWAY_EXECUTION_TIMEOUT_SECONDS, "http");
    const base = { id: executionId, functionId: route.functionId, deploymentId: route.deploymentId, method: req.method ?? "GET", path, startedAt };
    return {
      refused: false,
      executionId,
      timeoutSeconds,
      headers: functionUrlCallHeaders(req.headers, { secret: route.secret, timeoutSeconds, executionId, functionId: route.functionId, key, apiUrl: config.publicUrl }),
      finish(statusCode, logId, timedOut = false) {
        const row = { ...base, statusCode, logId: typeof logId === "string" && logId ? logId : null, durationMs: performance.now() - started };
        if (timedOut) record(route.containerId, row, "timed_out", `Execution timed out after ${timeoutSeconds} s.`);
        else record(route.containerId, row, statusCode >= 500 ? "failed" : "completed", "");
      },
      fail(error, timedOut = false) {
        // The runtime never answered; what it wrote is under the execution id.
        const row = { ...base, statusCode: null, logId: executionId, durationMs: performance.now() - started };
        if (timedOut) record(route.containerId, row, "timed_out", `Execution timed out after ${timeoutSeconds} s: the function did not answer.`, unansweredSettleMs);
        else record(route.containerId, row, "failed", `the function did not answer: ${(error as Error).message}`, unansweredSettleMs);
      },
    };
  }

  /** Whether the request may call the deployment; a /d/ URL asks before it starts anything. */
  async function authorizeCall(req: IncomingMessage, route: Omit<CallRoute, "runtime">) {
    const served = route.functionId && route.settings ? { functionId: route.functionId, settings: route.settings } : await settingsOf(route.deploymentId);
    let decision = guard.authorize(req, { functionId: served.functionId, deploymentId: route.deploymentId }, served.settings.execute);
    if (decision instanceof Promise) decision = await decision;
    return { served, decision };
  }

  /** The permission check and bookkeeping of one function-URL request. */
  async function beginCall(req: IncomingMessage, route: CallRoute, path: string): Promise<FunctionCall> {
    const { served, decision } = await authorizeCall(req, route);
    if (!decision.allowed) return { refused: true, status: decision.status, message: decision.message };
    const key = await guard.executionKey(served.functionId, route.deploymentId);
    return call(req, { ...served, deploymentId: route.deploymentId, containerId: route.runtime.containerId, secret: route.runtime.secret }, path, key);
  }

  return {
    guard,
    queues,
    authorizeCall,
    beginCall,
    recordDataPlaneCall,
    /** The environment a deployment's runtime container starts with: its variables and where Slipway's API is. */
    async runtimeEnvironment(deploymentId: string, functionId: string): Promise<string[]> {
      const variables = await resolveFunctionEnvironment(db, keyring, deploymentId);
      const own = [`SLIPWAY_FUNCTION_ID=${functionId}`, `SLIPWAY_DEPLOYMENT_ID=${deploymentId}`, `SLIPWAY_API_URL=${config.publicUrl}`];
      const { appwrite } = await getDeploymentSettings(db, deploymentId);
      if (!appwrite) return [...toEnvList(variables), ...own];
      const runtime = await db.query<{ runtime: string }>("select runtime from deployments where id = $1", [deploymentId]);
      const appwriteEnvironment = appwriteFunctionEnvironment({
        identity: appwrite,
        deploymentId,
        runtime: runtime.rows[0]?.runtime ?? "",
        projectId: config.SLIPWAY_APPWRITE_PROJECT_ID,
        apiEndpoint: `${config.publicUrl}${appwriteApiPrefix}`,
        apiVersion: appwriteApiVersion,
        cpus: config.SLIPWAY_RUNTIME_CPUS,
        memoryMb: config.SLIPWAY_RUNTIME_MEMORY_MB,
      });
      return [...toEnvList(variables), ...appwriteEnvironment, ...own];
    },
    async applySchedule(functionId: string, schedule: string | null): Promise<void> {
      await syncFunctionSchedule(queues.schedules, functionId, schedule);
    },
    startConsumers,
    async close(): Promise<void> {
      await consumers?.close();
      await logFiles.close();
      await guard.close();
      await queues.close();
    },
  };
}
