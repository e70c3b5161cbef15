// Owns the function URL's (/fn/...) share of executions, kept off the hot path: who may
// call (tokens are looked up once and cached for a few seconds, the function's permissions
// come with its route), the short-lived execution key the function gets (minted once per
// deployment, scoped to it, and reused until it nears expiry), and the executions table rows, written in
// batches in the background (with the call's logs, which the log file collector has read
// by the time a row is recorded).
import { createHash, randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Logger } from "pino";
import { authenticateToken, createApiToken, type Principal } from "../api/api-tokens.js";
import { executionDuration, executions } from "../metrics/metrics.js";
import type { Queryable } from "../store/create-database.js";
import { canExecute, type ExecuteDecision } from "./can-execute.js";

const tokenCacheMs = 10_000;
const maxCachedTokens = 10_000;
const keyLifetimeSeconds = 15 * 60;
const keyRenewAfterMs = 10 * 60 * 1000;
const flushIntervalMs = 250;
const maxPendingRows = 50_000;

export type HttpExecutionRow = {
  id: string;
  functionId: string;
  deploymentId: string;
  method: string;
  path: string;
  statusCode: number | null;
  logId: string | null;
  durationMs: number;
  startedAt: Date;
  status: "completed" | "failed" | "timed_out";
  logs: string;
  errors: string;
};

export type FunctionCallGuard = ReturnType<typeof createFunctionCallGuard>;

export function createFunctionCallGuard(options: { db: Queryable; log: Logger; /** Recorded as the node that ran each call. */ nodeId?: string }) {
  const { db, log } = options;
  const tokens = new Map<string, { principal: Principal | null; until: number }>();
  const keys = new Map<string, { token: Promise<string>; renewAt: number }>();
  let pending: HttpExecutionRow[] = [];
  let flushing: Promise<void> | null = null;

  async function principalFor(authorization: string): Promise<Principal | null> {
    const cacheKey = createHash("sha256").update(authorization).digest("base64");
    const now = Date.now();
    const cached = tokens.get(cacheKey);
    if (cached && cached.until > now) return cached.principal;
    const principal = await authenticateToken(db, authorization);
    if (tokens.size >= maxCachedTokens) tokens.clear();
    tokens.set(cacheKey, { principal, until: now + tokenCacheMs });
    return principal;
  }

  /** Synchronous for public functions, so they pay nothing; one cached lookup otherwise. */
  function authorize(req: IncomingMessage, target: { functionId: string; deploymentId: string }, permissions: readonly string[]): ExecuteDecision | Promise<ExecuteDecision> {
    if (permissions.includes("any")) return { allowed: true };
    const authorization = req.headers.authorization;
    if (!authorization) return canExecute(permissions, { kind: "anonymous" }, target.functionId, target.deploymentId);
    return principalFor(authorization).then((principal) =>
      canExecute(permissions, principal ? { kind: "token", principal } : { kind: "invalid" }, target.functionId, target.deploymentId),
    );
  }

  /** The key a deployment's calls carry (x-slipway-key): it works for that deployment only. */
  function executionKey(functionId: string, deploymentId: string): Promise<string> {
    const now = Date.now();
    const cached = keys.get(deploymentId);
    if (cached && cached.renewAt > now) return cached.token;
    const token = createApiToken(db, { name: "function URL executions", kind: "execution", functionId, deploymentId, expiresInSeconds: keyLifetimeSeconds }).then((t) => t.token);
    keys.set(deploymentId, { token, renewAt: now + keyRenewAfterMs });
    token.catch(() => keys.delete(deploymentId));
    return token;
  }

  // Label children made once: a function URL call is the hot path, and looking a label set up costs more than counting.
  const httpExecutions = { completed: executions.labels("http", "completed"), failed: executions.labels("http", "failed"), timed_out: executions.labels("http", "timed_out") };
  const httpDuration = executionDuration.labels("http");

  function record(row: Omit<HttpExecutionRow, "id"> & { id?: string }): void {
    httpExecutions[row.status].inc();
    httpDuration.observe(row.durationMs / 1000);
    if (pending.length >= maxPendingRows) return; // under overload, serving wins over bookkeeping
    pending.push({ ...row, id: row.id ?? randomUUID() });
  }

  async function flush(): Promise<void> {
    if (pending.length === 0) return;
    const rows = pending;
    pending = [];
    for (let offset = 0; offset < rows.length; offset += 5000) {
      const batch = rows.slice(offset, offset + 5000);
      // One array per column and unnest: 13 parameters and one plan however many rows,
      // which costs Postgres and this process far less than a parameter per value.
      const column = <T>(pick: (row: HttpExecutionRow) => T) => batch.map(pick);
      await db.query(
        `insert into executions (id, function_id, deployment_id, request_method, request_path, response_status_code, log_id, duration_ms, started_at, status, logs, errors, finished_at, trigger, node_id)
         select id, function_id, deployment_id, method, path, status_code, log_id, duration_ms, started_at, status, logs, errors,
                -- The row is written a moment after the call (its logs come first), so not now().
                started_at + make_interval(secs => duration_ms / 1000), 'http', $13::text
           from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::int[], $7::text[], $8::float8[], $9::timestamptz[], $10::text[], $11::text[], $12::text[])
             as t(id, function_id, deployment_id, method, path, status_code, log_id, duration_ms, started_at, status, logs, errors)
         on conflict (id) do nothing`,
        [
          column((r) => r.id), column((r) => r.functionId), column((r) => r.deploymentId), column((r) => r.method), column((r) => r.path),
          column((r) => r.statusCode), column((r) => r.logId), column((r) => r.durationMs), column((r) => r.startedAt), column((r) => r.status),
          column((r) => r.logs), column((r) => r.errors), options.nodeId ?? null,
        ],
      ).catch((error: Error) => log.warn({ err: { message: error.message }, rows: batch.length }, "could not record function URL executions"));
    }
  }

  const timer = setInterval(() => {
    if (flushing) return;
    flushing = flush().finally(() => {
      flushing = null;
    });
  }, flushIntervalMs);
  timer.unref();

  return {
    authorize,
    executionKey,
    record,
    /** Forget cached permissions decisions (tokens); called when routes change. */
    clearTokens: () => tokens.clear(),
    async close() {
      clearInterval(timer);
      await flushing;
      await flush();
    },
  };
}
