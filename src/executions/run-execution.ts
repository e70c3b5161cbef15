// Owns one execution against a runtime container, whatever triggered it: it mints the
// execution's own short-lived API key, sends the request with the open-runtimes headers
// (the execution id is the log id), reads the result and the log files (then hands them
// over for removal), and says how it ended. It records nothing itself; callers write the
// result to the executions table.
import type { Logger } from "pino";
import { request, type Dispatcher } from "undici";
import { createApiToken } from "../api/api-tokens.js";
import type { RunningRuntime } from "../gateway/runtime-containers.js";
import { executionDuration, executions } from "../metrics/metrics.js";
import type { Queryable } from "../store/create-database.js";
import { backstopMs, callRequestHeaders, executionTimeoutSeconds, isRuntimeOnlyResponseHeader, logIdHeader, runtimeTimeoutSeconds, scheduleHeader } from "../runtime-contract/call-contract.js";
import type { DeploymentSettings } from "../store/deployment-settings.js";
import type { ClaimedExecution, ExecutionResult } from "../store/executions.js";
import { capText } from "./read-execution-logs.js";
import type { RuntimeEngine } from "../gateway/runtime-engine.js";

export type ExecutionTarget = { functionId: string; deploymentId: string; runtime: RunningRuntime; settings: DeploymentSettings };

export type ExecutionContext = {
  /** The gateway node this process is (gateway_nodes.id), recorded on each execution it runs. */
  nodeId: string;
  db: Queryable;
  /** Where the runtimes run: a queued execution's log files are read through it. */
  engine: Pick<RuntimeEngine, "readLogFiles" | "receivedCall">;
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

export { executionTimeoutSeconds, syncTimeoutCeilingSeconds } from "../runtime-contract/call-contract.js";

/** A runtime that stops a function at its timeout says so only in the errors log. */
export function runtimeReportedTimeout(errors: string): boolean {
  return /Execution timed out/.test(errors);
}
export const maxResponseBytes = 1024 * 1024;

/** What a queued execution sends its runtime: the stored request's headers the contract passes on, and the contract's own. */
export function queuedCallHeaders(execution: Pick<ClaimedExecution, "id" | "functionId" | "trigger" | "event" | "request">, call: { secret: string; timeoutSeconds: number; key: string; apiUrl: string }): Record<string, string> {
  return callRequestHeaders(execution.request.headers, "queue", {
      secret: call.secret,
      timeoutSeconds: runtimeTimeoutSeconds(call.timeoutSeconds, "runtime"),
      executionId: execution.id,
      functionId: execution.functionId,
      key: call.key,
      apiUrl: call.apiUrl,
      trigger: execution.trigger,
      event: execution.event ?? undefined,
      // The scheduler alone makes schedule executions, and it stores the expression in the
      // request; from any other trigger the header is a client's and is dropped above.
      ...(execution.trigger === "schedule" && execution.request.headers[scheduleHeader] ? { schedule: execution.request.headers[scheduleHeader] } : {}),
      lazyLogFiles: false,
  });
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

  const headers = queuedCallHeaders(execution, { secret: target.runtime.secret, timeoutSeconds, key: key.token, apiUrl: context.apiUrl });

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
      headersTimeout: backstopMs(timeoutSeconds),
      bodyTimeout: backstopMs(timeoutSeconds),
    });
    statusCode = upstream.statusCode;
    for (const [name, value] of Object.entries(upstream.headers)) {
      if (value === undefined) continue;
      if (name === logIdHeader) {
        logId = String(value) || logId;
        continue;
      }
      if (isRuntimeOnlyResponseHeader(name) || name === "connection" || name === "keep-alive" || name === "transfer-encoding") continue;
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
    const logs = await context.engine.readLogFiles(target.runtime.containerId, logId).catch(() => ({ logs: "", errors: "" }));
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
  const logs = await context.engine.readLogFiles(target.runtime.containerId, logId).catch((error: Error) => {
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
