// Owns starting one execution through an executions API, Slipway's or the Appwrite-shaped
// one: the permission check, then a synchronous run (answered when it ends), or an
// asynchronous or delayed one (recorded and queued, answered at once). The two APIs differ
// only in how they read the request and show the execution.
import type { Principal } from "../api/api-tokens.js";
import type { Queryable } from "../store/create-database.js";
import type { DeploymentSettings } from "../store/deployment-settings.js";
import { createExecution, finishExecution, getExecution, type ExecutionRecord, type ExecutionRequest } from "../store/executions.js";
import { canExecute, type Caller } from "./can-execute.js";
import { enqueueExecution, type ExecutionQueues } from "./execution-queues.js";
import { runExecution, type ExecutionContext } from "./run-execution.js";

export type ExecutionStartDependencies = { db: Queryable; queues: ExecutionQueues; context: ExecutionContext };

export type ExecutionTarget = { functionId: string; deploymentId: string; settings: DeploymentSettings };

const maxDelayMs = 366 * 24 * 3600 * 1000;

export type StartedExecution =
  | { ok: true; execution: ExecutionRecord; queued: boolean }
  | { ok: false; status: 400 | 401 | 403; message: string };

export async function startFunctionExecution(
  deps: ExecutionStartDependencies,
  target: ExecutionTarget,
  caller: Caller,
  principal: Principal | null,
  input: { request: ExecutionRequest; async: boolean; scheduledAt?: string | undefined },
): Promise<StartedExecution> {
  const decision = canExecute(target.settings.execute, caller, target.functionId, target.deploymentId);
  if (!decision.allowed) return { ok: false, status: decision.status, message: decision.message };
  const { request } = input;
  const createdBy = principal?.tokenId ?? null;

  if (input.scheduledAt !== undefined || input.async) {
    const runAt = input.scheduledAt !== undefined ? new Date(input.scheduledAt) : null;
    if (runAt && runAt.getTime() < Date.now() - 1000) return { ok: false, status: 400, message: `scheduledAt ${input.scheduledAt} is in the past` };
    if (runAt && runAt.getTime() > Date.now() + maxDelayMs) return { ok: false, status: 400, message: "scheduledAt may be at most a year ahead" };
    const created = await createExecution(deps.db, { functionId: target.functionId, trigger: "async", status: runAt ? "scheduled" : "waiting", request, createdBy, scheduledAt: runAt });
    // The answer is the execution as it was accepted: read after the job is queued, a busy
    // consumer may already have claimed it, and the caller would see "processing".
    const accepted = (await getExecution(deps.db, created.id))!;
    await enqueueExecution(deps.queues.executions, created.id, runAt);
    return { ok: true, execution: accepted, queued: true };
  }

  const created = await createExecution(deps.db, { functionId: target.functionId, trigger: "sync", status: "processing", request, createdBy, nodeId: deps.context.nodeId });
  const result = await runExecution(deps.context, { id: created.id, functionId: target.functionId, trigger: "sync", event: null, request, attempt: 1 });
  await finishExecution(deps.db, created.id, result);
  return { ok: true, execution: (await getExecution(deps.db, created.id))!, queued: false };
}
