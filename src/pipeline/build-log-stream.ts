// Owns live build logs: while a build runs, the worker appends its output to a Redis
// stream per deployment so the API can stream it to a follower. Redis holds only this
// live copy (capped by bytes per build and by entries, expiring); the log tail that lasts
// is written to Postgres at the end.
import type { Redis } from "ioredis";
import { StringDecoder } from "node:string_decoder";

const maxEntries = 20_000;
const keepSeconds = 24 * 3600;

export function buildLogKey(prefix: string, deploymentId: string): string {
  return `${prefix}:build-log:${deploymentId}`;
}

async function appendBuildLog(redis: Redis, key: string, text: string): Promise<void> {
  await redis.multi().xadd(key, "MAXLEN", "~", String(maxEntries), "*", "text", text).expire(key, keepSeconds).exec();
}

/**
 * One build's appender. It streams up to `maxBytes` of output; the chunk that reaches the
 * budget is cut there, followed by one line saying so, and nothing more is streamed. The
 * build goes on, and the tail stored when it ends keeps its last lines. Appends are sent
 * in order on the connection and never fail the build; the promise is for tests.
 */
export function createBuildLogAppender(redis: Redis, key: string, maxBytes: number): (text: string) => Promise<void> {
  let used = 0;
  let cut = false;
  return async (text) => {
    if (cut) return;
    const size = Buffer.byteLength(text, "utf8");
    let entry = text;
    if (used + size > maxBytes) {
      cut = true;
      // Only whole characters: the decoder holds back a character the cut splits.
      const fits = new StringDecoder("utf8").write(Buffer.from(text, "utf8").subarray(0, maxBytes - used));
      entry = `${fits}\n[slipway] The live log was cut at ${formatMegabytes(maxBytes)} MB (SLIPWAY_BUILD_LOG_MAX_MB); the build goes on, and its stored log keeps the end.\n`;
    }
    used += size;
    await appendBuildLog(redis, key, entry).catch(() => {});
  };
}

function formatMegabytes(bytes: number): string {
  return String(Math.round((bytes / 1024 / 1024) * 100) / 100);
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
