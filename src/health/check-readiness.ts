// Owns /readyz: whether this process can do its work now, one check per dependency
// (PostgreSQL, Redis, Docker, the data plane), each bounded by a timeout so a dependency that
// hangs reads as down instead of hanging the probe. /healthz stays liveness: it answers
// whenever the process does, so an orchestrator restarts only a stuck process, never one
// that waits for its database.
import type { ServerResponse } from "node:http";

/** Resolves when the dependency is fine; rejects (or takes too long) when it is not. */
export type ReadinessCheck = { name: string; check: () => Promise<unknown>; timeoutMs?: number };

const checkTimeoutMs = 2_000;

function withTimeout(work: Promise<unknown>, name: string, timeoutMs: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export async function checkReadiness(checks: ReadinessCheck[], res: ServerResponse): Promise<void> {
  const results = await Promise.all(
    checks.map(async ({ name, check, timeoutMs }) => {
      try {
        await withTimeout(Promise.resolve().then(check), name, timeoutMs ?? checkTimeoutMs);
        return [name, "ok"] as const;
      } catch (error) {
        // First line only: a driver's message, never a URL with its password (checks name their setting instead).
        return [name, (error instanceof Error ? error.message : String(error)).split("\n")[0]!.slice(0, 300)] as const;
      }
    }),
  );
  const down = results.filter(([, state]) => state !== "ok").map(([name]) => name);
  res.writeHead(down.length === 0 ? 200 : 503, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify({ ready: down.length === 0, ...(down.length ? { down } : {}), checks: Object.fromEntries(results) }));
}
