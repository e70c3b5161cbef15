// Owns what an operator reads about Redis: a probe at start-up that names REDIS_URL when
// Redis cannot be reached, and, once running, one warning when Redis goes away and one
// line when it is back, however many connections this process holds and however often
// ioredis retries (an 'error' listener also stops ioredis printing a stack per retry).
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { redactUrlPassword } from "../config/describe-database-failure.js";

function reasonOf(error: unknown): string {
  const code = (error as { code?: string }).code;
  if (code === "ECONNREFUSED") return "refused the connection";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "has a host name that does not resolve";
  if (code === "ETIMEDOUT") return "did not answer in time";
  return `failed: ${error instanceof Error ? error.message : String(error)}`;
}

/** Resolves once Redis answers PING; rejects with a one-line message naming REDIS_URL. */
export async function probeRedis(url: string): Promise<void> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, connectTimeout: 5000 });
  // connect() rejects with "Connection is closed"; the cause arrives as an 'error' event first.
  let cause: unknown;
  probe.on("error", (error: unknown) => (cause ??= error));
  try {
    await probe.connect();
    await probe.ping();
  } catch (error) {
    throw new Error(`Redis at REDIS_URL=${redactUrlPassword(url)} ${reasonOf(cause ?? error)}; is Redis running there? (scripts/setup.sh starts a local one)`);
  } finally {
    probe.disconnect();
  }
}

/** Returns a function that watches a connection; all of a process's connections share one state. */
export function createRedisWatcher(url: string, log: Logger): (connection: Redis) => Redis {
  let down = false;
  const where = `Redis at REDIS_URL=${redactUrlPassword(url)}`;
  return (connection) => {
    connection.on("error", (error: unknown) => {
      if (down) return;
      down = true;
      log.warn(`${where} ${reasonOf(error)}; retrying (queues, build logs and schedules wait until it is back)`);
    });
    connection.on("ready", () => {
      if (!down) return;
      down = false;
      log.info(`${where} is reachable again`);
    });
    return connection;
  };
}
