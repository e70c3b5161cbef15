// Owns how a Slipway execution looks to Appwrite's SDKs: Appwrite's execution document
// (the `Execution` model of Appwrite's API 1.6 and later). Pure.
//   trigger  sync and async API calls are Appwrite's 'http'; schedule and event as they are
//   status   timed_out is Appwrite's 'failed' (its errors say it timed out)
//   duration seconds, as Appwrite gives it; headers as [{ name, value }]
import type { ExecutionRecord } from "../store/executions.js";

export type AppwriteHeader = { name: string; value: string };

export type AppwriteExecution = {
  $id: string;
  $createdAt: string;
  $updatedAt: string;
  $permissions: string[];
  functionId: string;
  deploymentId: string;
  trigger: "http" | "schedule" | "event";
  status: "scheduled" | "waiting" | "processing" | "completed" | "failed";
  requestMethod: string;
  requestPath: string;
  requestHeaders: AppwriteHeader[];
  responseStatusCode: number;
  responseBody: string;
  responseHeaders: AppwriteHeader[];
  logs: string;
  errors: string;
  duration: number;
  scheduledAt: string | null;
};

function headerList(headers: Record<string, string> | null): AppwriteHeader[] {
  return Object.entries(headers ?? {}).map(([name, value]) => ({ name, value }));
}

/** `functionId`: the id the caller knows the function by (its Appwrite `$id`). */
export function toAppwriteExecution(execution: ExecutionRecord, functionId: string): AppwriteExecution {
  const updatedAt = execution.finishedAt ?? execution.startedAt ?? execution.createdAt;
  return {
    $id: execution.id,
    $createdAt: new Date(execution.createdAt).toISOString(),
    $updatedAt: new Date(updatedAt).toISOString(),
    $permissions: [],
    functionId,
    deploymentId: execution.deploymentId ?? "",
    trigger: execution.trigger === "schedule" || execution.trigger === "event" ? execution.trigger : "http",
    status: execution.status === "timed_out" ? "failed" : execution.status,
    requestMethod: execution.requestMethod,
    requestPath: execution.requestPath,
    requestHeaders: headerList(execution.requestHeaders),
    responseStatusCode: execution.responseStatusCode ?? 0,
    responseBody: execution.responseBody ?? "",
    responseHeaders: headerList(execution.responseHeaders),
    logs: execution.logs ?? "",
    errors: execution.errors ?? "",
    duration: Math.round(execution.durationMs ?? 0) / 1000,
    scheduledAt: execution.scheduledAt ? new Date(execution.scheduledAt).toISOString() : null,
  };
}
