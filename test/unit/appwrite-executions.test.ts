import assert from "node:assert/strict";
import { test } from "node:test";
import { appwriteErrorBody, AppwriteError } from "../../src/executions/appwrite-execution-routes.js";
import { appwriteFunctionEnvironment } from "../../src/executions/appwrite-function-environment.js";
import { parseAppwriteQueries } from "../../src/executions/parse-appwrite-queries.js";
import { toAppwriteExecution } from "../../src/executions/to-appwrite-execution.js";
import type { ExecutionRecord } from "../../src/store/executions.js";

const record: ExecutionRecord = {
  id: "0b7c6a9e-5a53-4d0e-9a3f-2f1f1f1f1f1f",
  functionId: "5d0e9a3f-0000-4000-8000-000000000000",
  deploymentId: "6e0e9a3f-0000-4000-8000-000000000000",
  trigger: "sync",
  status: "timed_out",
  event: null,
  requestMethod: "POST",
  requestPath: "/x",
  requestHeaders: { "x-a": "1" },
  responseStatusCode: null,
  responseHeaders: null,
  responseBody: null,
  logs: null,
  errors: "Execution timed out after 3 s.",
  durationMs: 3001.4,
  scheduledAt: null,
  createdAt: new Date("2026-01-01T00:00:00Z"),
  startedAt: new Date("2026-01-01T00:00:00.010Z"),
  finishedAt: new Date("2026-01-01T00:00:03.011Z"),
  createdBy: "not shown",
};

test("an execution becomes Appwrite's execution document", () => {
  const doc = toAppwriteExecution(record, "Send_Email");
  assert.deepEqual(doc, {
    $id: record.id,
    $createdAt: "2026-01-01T00:00:00.000Z",
    $updatedAt: "2026-01-01T00:00:03.011Z",
    $permissions: [],
    functionId: "Send_Email",
    deploymentId: record.deploymentId,
    trigger: "http",
    status: "failed",
    requestMethod: "POST",
    requestPath: "/x",
    requestHeaders: [{ name: "x-a", value: "1" }],
    responseStatusCode: 0,
    responseBody: "",
    responseHeaders: [],
    logs: "",
    errors: "Execution timed out after 3 s.",
    duration: 3.001,
    scheduledAt: null,
  });
  assert.equal(toAppwriteExecution({ ...record, trigger: "schedule", status: "scheduled", scheduledAt: new Date("2026-02-01T00:00:00Z") }, "a").scheduledAt, "2026-02-01T00:00:00.000Z");
  assert.equal(toAppwriteExecution({ ...record, trigger: "event" }, "a").trigger, "event");
  assert.equal(toAppwriteExecution({ ...record, trigger: "async" }, "a").trigger, "http");
});

test("SDK queries become a filter; an unsupported one is refused, never ignored", () => {
  const q = (method: string, attribute?: string, values?: unknown[]) => JSON.stringify({ method, attribute, values });
  assert.deepEqual(parseAppwriteQueries([]), { ok: true, query: { limit: 25, offset: 0 } });
  assert.deepEqual(parseAppwriteQueries([q("equal", "status", ["failed"]), q("equal", "trigger", ["http"]), q("limit", undefined, [5]), q("offset", undefined, [10]), q("orderDesc", "$createdAt")]), {
    ok: true,
    query: { status: ["failed", "timed_out"], trigger: ["http", "sync", "async"], limit: 5, offset: 10 },
  });
  for (const bad of [q("search", "responseBody", ["x"]), q("equal", "requestPath", ["/"]), q("equal", "status", ["done"]), q("limit", undefined, [0]), q("orderAsc", "$createdAt"), 'equal("status", ["completed"])']) {
    const parsed = parseAppwriteQueries([bad]);
    assert.ok(!parsed.ok, bad);
    assert.match(parsed.message, /Slipway (supports|reads)/);
  }
});

test("errors have Appwrite's shape and types", () => {
  assert.deepEqual(appwriteErrorBody(404, "gone", new AppwriteError(404, "function_not_found", "gone")), { message: "gone", code: 404, type: "function_not_found", version: "1.6.0" });
  assert.equal(appwriteErrorBody(400, "bad body", new Error("x")).type, "general_argument_invalid");
  assert.equal(appwriteErrorBody(500, "internal error", new Error("x")).type, "general_unknown");
});

test("a function from appwrite.json gets the APPWRITE_FUNCTION_* environment", () => {
  const env = appwriteFunctionEnvironment({
    identity: { functionId: "Send_Email", name: "Send email", runtime: "node-18.0", projectId: "from-json" },
    deploymentId: "d1",
    runtime: "python-3.13",
    projectId: undefined,
    apiEndpoint: "https://fn.example.com/appwrite/v1",
    apiVersion: "1.6.0",
    cpus: 1,
    memoryMb: 512,
  });
  assert.deepEqual(env, [
    "APPWRITE_FUNCTION_ID=Send_Email",
    "APPWRITE_FUNCTION_NAME=Send email",
    "APPWRITE_FUNCTION_DEPLOYMENT=d1",
    "APPWRITE_FUNCTION_PROJECT_ID=from-json",
    "APPWRITE_FUNCTION_RUNTIME_NAME=Python",
    "APPWRITE_FUNCTION_RUNTIME_VERSION=3.13",
    "APPWRITE_FUNCTION_API_ENDPOINT=https://fn.example.com/appwrite/v1",
    "APPWRITE_VERSION=1.6.0",
    "APPWRITE_FUNCTION_CPUS=1",
    "APPWRITE_FUNCTION_MEMORY=512",
  ]);
});
