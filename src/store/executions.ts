// Owns the executions table. Every status change is a conditional update, so two
// gateways (or a retried job) can never both run or both finish the same execution.
import type { Queryable } from "./create-database.js";

export type ExecutionTrigger = "http" | "sync" | "async" | "schedule" | "event";
export type ExecutionStatus = "scheduled" | "waiting" | "processing" | "completed" | "failed" | "timed_out";

export type ExecutionRequest = { method: string; path: string; headers: Record<string, string>; body: string };

export type NewExecution = {
  functionId: string;
  trigger: ExecutionTrigger;
  status: "scheduled" | "waiting" | "processing";
  request: ExecutionRequest;
  event?: string | null;
  dedupeKey?: string | null;
  createdBy?: string | null;
  scheduledAt?: Date | null;
  /** The gateway node that runs it, for one made processing at once (a sync execution). */
  nodeId?: string | null;
};

export type ExecutionResult = {
  status: "completed" | "failed" | "timed_out";
  deploymentId: string | null;
  statusCode: number | null;
  headers: Record<string, string>;
  body: string;
  logs: string;
  errors: string;
  logId: string | null;
  durationMs: number;
};

export const executionColumns = `e.id, e.function_id as "functionId", e.deployment_id as "deploymentId", e.trigger, e.status, e.event,
  e.request_method as "requestMethod", e.request_path as "requestPath", e.request_headers as "requestHeaders",
  e.response_status_code as "responseStatusCode", e.response_headers as "responseHeaders", e.response_body as "responseBody",
  e.logs, e.errors, e.duration_ms as "durationMs", e.scheduled_at as "scheduledAt", e.created_at as "createdAt",
  e.started_at as "startedAt", e.finished_at as "finishedAt", e.created_by as "createdBy"`;

export type ExecutionRecord = {
  id: string;
  functionId: string;
  deploymentId: string | null;
  trigger: ExecutionTrigger;
  status: ExecutionStatus;
  event: string | null;
  requestMethod: string;
  requestPath: string;
  requestHeaders: Record<string, string>;
  responseStatusCode: number | null;
  responseHeaders: Record<string, string> | null;
  responseBody: string | null;
  logs: string | null;
  errors: string | null;
  durationMs: number | null;
  scheduledAt: Date | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  createdBy: string | null;
};

/** Inserts the execution; with a dedupe key that exists already, returns the existing row's id. */
export async function createExecution(db: Queryable, execution: NewExecution): Promise<{ id: string; created: boolean }> {
  const result = await db.query<{ id: string }>(
    `insert into executions (function_id, trigger, status, event, request_method, request_path, request_headers, request_body, dedupe_key, created_by, scheduled_at, started_at, node_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, case when $3 = 'processing' then now() end, case when $3 = 'processing' then $12 end)
     on conflict (dedupe_key) where dedupe_key is not null do nothing returning id`,
    [execution.functionId, execution.trigger, execution.status, execution.event ?? null, execution.request.method, execution.request.path,
      JSON.stringify(execution.request.headers), execution.request.body, execution.dedupeKey ?? null, execution.createdBy ?? null, execution.scheduledAt ?? null, execution.nodeId ?? null],
  );
  if (result.rows[0]) return { id: result.rows[0].id, created: true };
  const existing = await db.query<{ id: string }>("select id from executions where dedupe_key = $1", [execution.dedupeKey]);
  return { id: existing.rows[0]!.id, created: false };
}

export type ClaimedExecution = { id: string; functionId: string; trigger: ExecutionTrigger; event: string | null; request: ExecutionRequest; attempt: number };

/** Moves a waiting or scheduled execution to processing on this gateway node; null if another run has it or it is done. */
export async function claimExecution(db: Queryable, executionId: string, nodeId: string): Promise<ClaimedExecution | null> {
  const result = await db.query(
    `update executions set status = 'processing', started_at = now(), attempt = attempt + 1, node_id = $2
      where id = $1 and status in ('waiting', 'scheduled')
      returning id, function_id as "functionId", trigger, event, attempt,
        json_build_object('method', request_method, 'path', request_path, 'headers', request_headers, 'body', request_body) as request`,
    [executionId, nodeId],
  );
  return (result.rows[0] as ClaimedExecution | undefined) ?? null;
}

export async function finishExecution(db: Queryable, executionId: string, result: ExecutionResult): Promise<boolean> {
  const updated = await db.query(
    `update executions set status = $2, deployment_id = coalesce($3, deployment_id), response_status_code = $4, response_headers = $5,
            response_body = $6, logs = $7, errors = $8, log_id = $9, duration_ms = $10, finished_at = now()
      where id = $1 and status = 'processing'`,
    [executionId, result.status, result.deploymentId, result.statusCode, JSON.stringify(result.headers), result.body, result.logs, result.errors, result.logId, result.durationMs],
  );
  return updated.rowCount === 1;
}

export async function getExecution(db: Queryable, executionId: string): Promise<ExecutionRecord | null> {
  const result = await db.query<ExecutionRecord>(`select ${executionColumns} from executions e where e.id = $1`, [executionId]);
  return result.rows[0] ?? null;
}

export type ExecutionFilter = {
  functionId: string;
  status?: ExecutionStatus | ExecutionStatus[] | undefined;
  trigger?: ExecutionTrigger | ExecutionTrigger[] | undefined;
  createdBy?: string | undefined;
};

function filterParameters(filter: ExecutionFilter): unknown[] {
  const list = <T>(value: T | T[] | undefined) => (value === undefined ? null : Array.isArray(value) ? value : [value]);
  return [filter.functionId, list(filter.status), list(filter.trigger), filter.createdBy ?? null];
}

const filterCondition = `e.function_id = $1 and ($2::text[] is null or e.status = any($2)) and ($3::text[] is null or e.trigger = any($3)) and ($4::uuid is null or e.created_by = $4)`;

export async function listExecutions(db: Queryable, filter: ExecutionFilter & { limit: number; offset?: number }): Promise<ExecutionRecord[]> {
  const result = await db.query<ExecutionRecord>(
    `select ${executionColumns} from executions e where ${filterCondition} order by e.created_at desc, e.id limit $5 offset $6`,
    [...filterParameters(filter), filter.limit, filter.offset ?? 0],
  );
  return result.rows;
}

export async function countExecutions(db: Queryable, filter: ExecutionFilter): Promise<number> {
  const result = await db.query<{ count: string }>(`select count(*) from executions e where ${filterCondition}`, filterParameters(filter));
  return Number(result.rows[0]!.count);
}

/** Executions still waiting (or due) after `seconds`: the sweeper makes sure each has its job. */
export async function findPendingExecutions(db: Queryable, olderThanSeconds: number): Promise<{ id: string; scheduledAt: Date | null }[]> {
  const result = await db.query<{ id: string; scheduledAt: Date | null }>(
    `select id, scheduled_at as "scheduledAt" from executions
      where status in ('waiting', 'scheduled') and created_at < now() - make_interval(secs => $1) order by created_at limit 5000`,
    [olderThanSeconds],
  );
  return result.rows;
}

/**
 * Executions that should have a job by now, as Postgres sees them: waiting for more than
 * `waitingSeconds`, or scheduled to run within `dueWithinSeconds`. The reconciler re-adds the
 * job of any whose job Redis no longer has.
 */
export async function findDueExecutions(
  db: Queryable,
  window: { waitingSeconds: number; dueWithinSeconds: number; limit: number },
): Promise<{ id: string; scheduledAt: Date | null }[]> {
  const result = await db.query<{ id: string; scheduledAt: Date | null }>(
    `select id, scheduled_at as "scheduledAt" from executions
      where (status = 'waiting' and created_at < now() - make_interval(secs => $1))
         or (status = 'scheduled' and scheduled_at < now() + make_interval(secs => $2))
      order by coalesce(scheduled_at, created_at) limit $3`,
    [window.waitingSeconds, window.dueWithinSeconds, window.limit],
  );
  return result.rows;
}

/** A queued execution that is processing, with the node that claimed it, when, and which claim (attempt) it is. */
export type ProcessingExecution = { id: string; functionId: string; nodeId: string | null; startedAt: Date; attempt: number };

const processingColumns = `id, function_id as "functionId", node_id as "nodeId", started_at as "startedAt", attempt`;

export async function getProcessingExecution(db: Queryable, executionId: string): Promise<ProcessingExecution | null> {
  const result = await db.query<ProcessingExecution>(`select ${processingColumns} from executions where id = $1 and status = 'processing'`, [executionId]);
  return result.rows[0] ?? null;
}

/** Queued executions this node claimed before it (re)started: their run was interrupted here. */
export async function findInterruptedOnNode(db: Queryable, nodeId: string, bootedAt: Date, limit = 100): Promise<ProcessingExecution[]> {
  const result = await db.query<ProcessingExecution>(
    `select ${processingColumns} from executions
      where status = 'processing' and node_id = $1 and started_at < $2 and trigger not in ('sync', 'http') order by started_at limit $3`,
    [nodeId, bootedAt, limit],
  );
  return result.rows;
}

/** Queued executions claimed by a node whose heartbeat is older than goneSeconds (or that left gateway_nodes). */
export async function findOrphanedExecutions(db: Queryable, selfNodeId: string, goneSeconds: number, limit = 100): Promise<ProcessingExecution[]> {
  const result = await db.query<ProcessingExecution>(
    `select ${processingColumns} from executions e
      where status = 'processing' and node_id is not null and node_id <> $1 and trigger not in ('sync', 'http')
        and not exists (select 1 from gateway_nodes n where n.id = e.node_id and n.last_seen > now() - make_interval(secs => $2))
      order by started_at limit $3`,
    [selfNodeId, goneSeconds, limit],
  );
  return result.rows;
}

/**
 * Ends an execution whose node is gone without running it again: that node alone could have
 * told whether the function saw it. Only if it is still that run (same node, same claim).
 */
export async function failOrphanedExecution(db: Queryable, execution: ProcessingExecution): Promise<boolean> {
  const result = await db.query(
    `update executions set status = 'failed', finished_at = now(),
            errors = coalesce(errors, '') || 'the gateway node ' || node_id || ' running this execution stopped before it finished; it may have run, so it was not run again'
      where id = $1 and status = 'processing' and node_id = $2 and attempt = $3`,
    [execution.id, execution.nodeId, execution.attempt],
  );
  return result.rowCount === 1;
}
