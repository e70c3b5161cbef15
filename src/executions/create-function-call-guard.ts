// Owns the function URL's (/fn/...) share of executions, kept off the hot path: who may
// call (tokens are looked up once and cached for a few seconds, the function's permissions
// come with its route), the short-lived execution key the function gets (minted once per
// function and reused until it nears expiry), and the executions table rows, written in
// batches in the background (with the call's logs, which the log file collector has read
// by the time a row is recorded).
import { createHash, randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Logger } from "pino";
import { authenticateToken, createApiToken, type Principal } from "../api/api-tokens.js";
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

export function createFunctionCallGuard(options: { db: Queryable; log: Logger }) {
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
  function authorize(req: IncomingMessage, functionId: string, permissions: readonly string[]): ExecuteDecision | Promise<ExecuteDecision> {
    if (permissions.includes("any")) return { allowed: true };
    const authorization = req.headers.authorization;
    if (!authorization) return canExecute(permissions, { kind: "anonymous" }, functionId);
    return principalFor(authorization).then((principal) =>
      canExecute(permissions, principal ? { kind: "token", principal } : { kind: "invalid" }, functionId),
    );
  }

  function executionKey(functionId: string): Promise<string> {
    const now = Date.now();
    const cached = keys.get(functionId);
    if (cached && cached.renewAt > now) return cached.token;
    const token = createApiToken(db, { name: "function URL executions", kind: "execution", functionId, expiresInSeconds: keyLifetimeSeconds }).then((t) => t.token);
    keys.set(functionId, { token, renewAt: now + keyRenewAfterMs });
    token.catch(() => keys.delete(functionId));
    return token;
  }

  function record(row: Omit<HttpExecutionRow, "id"> & { id?: string }): void {
    if (pending.length >= maxPendingRows) return; // under overload, serving wins over bookkeeping
    pending.push({ ...row, id: row.id ?? randomUUID() });
  }

  async function flush(): Promise<void> {
    if (pending.length === 0) return;
    const rows = pending;
    pending = [];
    const columns = 13;
    for (let offset = 0; offset < rows.length; offset += 1000) {
      const batch = rows.slice(offset, offset + 1000);
      const values: unknown[] = [];
      const tuples = batch.map((row, index) => {
        values.push(row.id, row.functionId, row.deploymentId, row.method, row.path, row.statusCode, row.logId, row.durationMs, row.startedAt, row.status, row.logs, row.errors,
          // The row is written a moment after the call (its logs come first), so not now().
          new Date(row.startedAt.getTime() + row.durationMs));
        const base = index * columns;
        return `(${Array.from({ length: columns }, (_, i) => `$${base + i + 1}`).join(", ")}, 'http')`;
      });
      await db.query(
        `insert into executions (id, function_id, deployment_id, request_method, request_path, response_status_code, log_id, duration_ms, started_at, status, logs, errors, finished_at, trigger)
         values ${tuples.join(", ")} on conflict (id) do nothing`,
        values,
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
