// Owns one execution against a runtime container, whatever triggered it: it mints the
// execution's own short-lived API key, sends the request with the open-runtimes headers
// (the execution id is the log id), reads the result and the log files (then hands them
// over for removal), and says how it ended. It records nothing itself; callers write the
// result to the executions table.
import type Docker from "dockerode";
import type { Logger } from "pino";
import { request, type Dispatcher } from "undici";
import { createApiToken } from "../api/api-tokens.js";
import type { RunningRuntime } from "../gateway/runtime-containers.js";
import { executionDuration, executions } from "../metrics/metrics.js";
import type { Queryable } from "../store/create-database.js";
import type { DeploymentSettings } from "../store/deployment-settings.js";
import type { ClaimedExecution, ExecutionResult } from "../store/executions.js";
import { capText, readExecutionLogs } from "./read-execution-logs.js";

export type ExecutionTarget = { functionId: string; deploymentId: string; runtime: RunningRuntime; settings: DeploymentSettings };

export type ExecutionContext = {
  /** The gateway node this process is (gateway_nodes.id), recorded on each execution it runs. */
  nodeId: string;
  db: Queryable;
  docker: Docker;
  dispatcher: Dispatcher;
  log: Logger;
  defaultTimeoutSeconds: number;
  apiUrl: string;
  /** The deployment that serves the function in production, started if need be. */
  resolveTarget(functionId: string): Promise<ExecutionTarget>;
  /** Called when the container did not answer, so the next call starts it again. */
  onRuntimeFailure(deploymentId: string): void;
  /** The execution's log files have been read; they may be removed from the container (later). */
  releaseLogFiles(containerId: string, logId: string): void;
};

export const syncTimeoutCeilingSeconds = 30;

/** A runtime that stops a function at its timeout says so only in the errors log. */
export function runtimeReportedTimeout(errors: string): boolean {
  return /Execution timed out/.test(errors);
}
export const maxResponseBytes = 1024 * 1024;

const droppedRequestHeaders = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length", "authorization"]);

export function executionTimeoutSeconds(settings: DeploymentSettings, defaultSeconds: number, trigger: ClaimedExecution["trigger"]): number {
  const wanted = settings.timeoutSeconds ?? defaultSeconds;
  return trigger === "sync" || trigger === "http" ? Math.min(wanted, syncTimeoutCeilingSeconds) : wanted;
}

export async function runExecution(context: ExecutionContext, execution: ClaimedExecution): Promise<ExecutionResult> {
  const result = await execute(context, execution);
  executions.inc({ trigger: execution.trigger, status: result.status });
  executionDuration.observe({ trigger: execution.trigger }, result.durationMs / 1000);
  return result;
}

async function execute(context: ExecutionContext, execution: ClaimedExecution): Promise<ExecutionResult> {
  const started = performance.now();
  let target: ExecutionTarget;
  try {
    target = await context.resolveTarget(execution.functionId);
  } catch (error) {
    return failed(null, `the function could not be started: ${(error as Error).message}`, started);
  }
  const timeoutSeconds = executionTimeoutSeconds(target.settings, context.defaultTimeoutSeconds, execution.trigger);
  const key = await createApiToken(context.db, { name: `execution ${execution.id}`, kind: "execution", functionId: execution.functionId, expiresInSeconds: timeoutSeconds + 60 });

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(execution.request.headers)) {
    const lower = name.toLowerCase();
    // x-appwrite-* are the platform's to set, as in Appwrite: a caller must not pose as a user.
    if (droppedRequestHeaders.has(lower) || lower.startsWith("x-open-runtimes-") || lower.startsWith("x-slipway-") || lower.startsWith("x-appwrite-")) continue;
    headers[lower] = value;
  }
  headers["x-slipway-trigger"] = execution.trigger;
  headers["x-slipway-execution-id"] = execution.id;
  headers["x-slipway-function-id"] = execution.functionId;
  headers["x-slipway-key"] = key.token;
  headers["x-slipway-api-url"] = context.apiUrl;
  if (execution.event) headers["x-slipway-event"] = execution.event;
  // What an Appwrite function reads (Appwrite 1.6): its trigger, the event, and its own API key.
  headers["x-appwrite-trigger"] = execution.trigger === "schedule" || execution.trigger === "event" ? execution.trigger : "http";
  headers["x-appwrite-key"] = key.token;
  if (execution.event) headers["x-appwrite-event"] = execution.event;
  headers["x-open-runtimes-secret"] = target.runtime.secret;
  headers["x-open-runtimes-timeout"] = String(timeoutSeconds);
  headers["x-open-runtimes-logging"] = "enabled";
  headers["x-open-runtimes-log-id"] = execution.id;

  const method = execution.request.method.toUpperCase();
  const hasBody = method !== "GET" && method !== "HEAD";
  let statusCode: number;
  let responseHeaders: Record<string, string> = {};
  let body = "";
  let logId: string = execution.id;
  try {
    const upstream = await request(`${target.runtime.baseUrl}${execution.request.path}`, {
      method: method as "POST",
      headers,
      body: hasBody ? execution.request.body : null,
      dispatcher: context.dispatcher,
      headersTimeout: (timeoutSeconds + 5) * 1000,
      bodyTimeout: (timeoutSeconds + 5) * 1000,
    });
    statusCode = upstream.statusCode;
    for (const [name, value] of Object.entries(upstream.headers)) {
      if (value === undefined) continue;
      if (name === "x-open-runtimes-log-id") {
        logId = String(value) || logId;
        continue;
      }
      if (name.startsWith("x-open-runtimes-") || name === "connection" || name === "keep-alive" || name === "transfer-encoding") continue;
      responseHeaders[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    body = capText(await upstream.body.text(), maxResponseBytes);
  } catch (error) {
    const name = (error as Error).name;
    const timedOut = name === "HeadersTimeoutError" || name === "BodyTimeoutError";
    // Only a refused connection means the container is gone; a connection closed mid-way
    // (a keep-alive race, a crashing handler) leaves it serving.
    const code = (error as { code?: string }).code;
    if (code === "ECONNREFUSED" || code === "UND_ERR_CONNECT_TIMEOUT") context.onRuntimeFailure(target.deploymentId);
    const logs = await readExecutionLogs(context.docker, target.runtime.containerId, logId).catch(() => ({ logs: "", errors: "" }));
    context.releaseLogFiles(target.runtime.containerId, logId);
    return {
      status: timedOut ? "timed_out" : "failed",
      deploymentId: target.deploymentId,
      statusCode: null,
      headers: {},
      body: "",
      logs: logs.logs,
      errors: `${logs.errors}${logs.errors ? "\n" : ""}${timedOut ? `Execution timed out after ${timeoutSeconds} s.` : `the function did not answer: ${(error as Error).message}`}`,
      logId,
      durationMs: performance.now() - started,
    };
  }
  const logs = await readExecutionLogs(context.docker, target.runtime.containerId, logId).catch((error: Error) => {
    context.log.warn({ err: { message: error.message }, executionId: execution.id }, "could not read the execution's logs");
    return { logs: "", errors: "" };
  });
  context.releaseLogFiles(target.runtime.containerId, logId);
  const timedOut = statusCode >= 500 && runtimeReportedTimeout(logs.errors);
  return {
    status: timedOut ? "timed_out" : statusCode >= 500 ? "failed" : "completed",
    deploymentId: target.deploymentId,
    statusCode,
    headers: responseHeaders,
    body,
    logs: logs.logs,
    errors: logs.errors,
    logId,
    durationMs: performance.now() - started,
  };
}

function failed(deploymentId: string | null, message: string, started: number): ExecutionResult {
  return { status: "failed", deploymentId, statusCode: null, headers: {}, body: "", logs: "", errors: message, logId: null, durationMs: performance.now() - started };
}
