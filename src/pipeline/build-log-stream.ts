// Owns live build logs: while a build runs, the worker appends its output to a Redis
// stream per deployment so the API can stream it to a follower. Redis holds only this
// live copy (capped, expiring); the log tail that lasts is written to Postgres at the end.
import type { Redis } from "ioredis";

const maxEntries = 20_000;
const keepSeconds = 24 * 3600;

export function buildLogKey(prefix: string, deploymentId: string): string {
  return `${prefix}:build-log:${deploymentId}`;
}

export async function appendBuildLog(redis: Redis, key: string, text: string): Promise<void> {
  await redis.multi().xadd(key, "MAXLEN", "~", String(maxEntries), "*", "text", text).expire(key, keepSeconds).exec();
}

export async function endBuildLog(redis: Redis, key: string, status: string): Promise<void> {
  await redis.multi().xadd(key, "MAXLEN", "~", String(maxEntries), "*", "end", status).expire(key, keepSeconds).exec();
}

/**
 * Calls onText for every chunk from the start of the build, then for new chunks as they
 * come, until the build ends (returns its status), `isOver()` says so, or the signal aborts.
 */
export async function followBuildLog(
  redis: Redis,
  key: string,
  onText: (text: string) => void,
  options: { signal: AbortSignal; isOver: () => Promise<boolean> },
): Promise<string | null> {
  let lastId = "0-0";
  while (!options.signal.aborted) {
    const result = (await redis.xread("COUNT", 500, "BLOCK", 1000, "STREAMS", key, lastId)) as [string, [string, string[]][]][] | null;
    if (!result) {
      if (await options.isOver()) return null;
      continue;
    }
    for (const [, entries] of result) {
      for (const [id, fields] of entries) {
        lastId = id;
        if (fields[0] === "text") onText(fields[1] ?? "");
        if (fields[0] === "end") return fields[1] ?? "ended";
      }
    }
  }
  return null;
}
