// Owns the checks /readyz runs, one per dependency, each failing with a message that names
// the setting to look at (never its value, which may hold a password).
import type Docker from "dockerode";
import type { Redis } from "ioredis";
import { request } from "undici";
import type { Queryable } from "../store/create-database.js";
import type { ReadinessCheck } from "./check-readiness.js";

export function postgresCheck(db: Queryable): ReadinessCheck {
  return {
    name: "postgres",
    check: () =>
      db.query("select 1").catch((error: Error) => {
        throw new Error(`PostgreSQL at DATABASE_URL: ${error.message}`);
      }),
  };
}

export function redisCheck(redis: Redis): ReadinessCheck {
  return {
    name: "redis",
    check: async () => {
      // A connection that is down queues commands until it is back; say so instead of waiting.
      if (redis.status !== "ready") throw new Error(`Redis at REDIS_URL is not connected (${redis.status})`);
      await redis.ping();
    },
  };
}

export function dockerCheck(docker: Docker): ReadinessCheck {
  return {
    name: "docker",
    check: () =>
      docker.ping().catch((error: Error) => {
        throw new Error(`the Docker engine (DOCKER_HOST, default /var/run/docker.sock): ${error.message}`);
      }),
  };
}

/** The app's view of the data plane: the gateway's own /readyz, whose failures it repeats. */
export function gatewayCheck(gatewayUrl: string): ReadinessCheck {
  return {
    name: "gateway",
    timeoutMs: 3_000,
    check: async () => {
      const response = await request(`${gatewayUrl}/readyz`, { headersTimeout: 3_000, bodyTimeout: 3_000 }).catch((error: Error) => {
        throw new Error(`cannot reach the gateway at SLIPWAY_GATEWAY_URL=${gatewayUrl}: ${error.message}`);
      });
      const text = await response.body.text();
      if (response.statusCode === 200) return;
      let detail = `answered ${response.statusCode}`;
      try {
        const body = JSON.parse(text) as { down?: string[]; checks?: Record<string, string> };
        if (body.down?.length) detail = body.down.map((name) => `${name}: ${body.checks?.[name] ?? "down"}`).join("; ");
      } catch {}
      throw new Error(`the gateway at SLIPWAY_GATEWAY_URL=${gatewayUrl} is not ready (${detail})`);
    },
  };
}
