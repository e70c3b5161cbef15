// Owns Slipway's Prometheus metrics (prom-client). Each process has one registry, so
// `slipway all` serves every role's metrics in one place; the app and the gateway serve it
// at GET /metrics and a worker on SLIPWAY_METRICS_PORT. Labels are kinds and outcomes,
// never function names or ids: a scrape shows the fleet's health, not its tenants.
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { listenServer } from "../app/listen-server.js";

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: "slipway_" });

export const webhookDeliveries = new Counter({
  name: "slipway_webhook_deliveries_total",
  help: "Verified webhook deliveries by event and outcome: processed, retry (failed, will be tried again), failed (given up), duplicate (already handled)",
  labelNames: ["event", "outcome"] as const,
  registers: [registry],
});

export const builds = new Counter({
  name: "slipway_builds_total",
  help: "Builds that ended, by runtime and conclusion (success, failure, cancelled); a build past its time limit is a failure",
  labelNames: ["runtime", "conclusion"] as const,
  registers: [registry],
});

export const buildDuration = new Histogram({
  name: "slipway_build_duration_seconds",
  help: "Time from a worker claiming a build to its end, by runtime and conclusion",
  labelNames: ["runtime", "conclusion"] as const,
  buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200],
  registers: [registry],
});

export const executions = new Counter({
  name: "slipway_executions_total",
  help: "Executions that ended, by trigger (http, sync, async, schedule, event) and status (completed, failed, timed_out)",
  labelNames: ["trigger", "status"] as const,
  registers: [registry],
});

export const executionDuration = new Histogram({
  name: "slipway_execution_duration_seconds",
  help: "How long executions ran, by trigger",
  labelNames: ["trigger"] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
  registers: [registry],
});

export const runtimeStarts = new Histogram({
  name: "slipway_runtime_start_seconds",
  help: "Time for a runtime container to become healthy, by how it started: created (a cold start), pooled (a cold start on a started pool member) or parked (a stopped container started again)",
  labelNames: ["kind"] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
  registers: [registry],
});

export const runtimeRestarts = new Counter({
  name: "slipway_runtime_restarts_total",
  help: "Runtime containers a gateway started again after they went down, by reason: exited (the process died), unhealthy (it stopped answering its health check), start_failed (the last restart did not come up)",
  labelNames: ["reason"] as const,
  registers: [registry],
});

export const runtimesCrashLooping = new Gauge({
  name: "slipway_runtimes_crash_looping",
  help: "Routed runtimes that went down three or more times without staying up a minute in between; each is restarted with a growing delay",
  registers: [registry],
});

export const activations = new Counter({
  name: "slipway_activations_total",
  help: "Alias switches this gateway carried out (not those it handed to the node placed on the route), by outcome (activated, refused, failed)",
  labelNames: ["outcome"] as const,
  registers: [registry],
});

/** A gauge whose value is read when scraped, e.g. from Postgres or a queue. */
export function gaugeFromSource(
  name: string,
  help: string,
  labelName: string,
  read: () => Promise<Record<string, number>>,
): Gauge<string> {
  registry.removeSingleMetric(name); // a second app or gateway in one process (tests) reads its own
  return new Gauge({
    name,
    help,
    labelNames: [labelName],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [label, value] of Object.entries(await read())) this.set({ [labelName]: label }, value);
    },
  });
}

/** Whether a listen address reaches only this machine. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/**
 * Answers GET /metrics. With a token configured, only `Authorization: Bearer <token>` is
 * served; the comparison is the token's, never echoed. Without one, metrics are served only
 * by a process that listens on loopback (`host`): beyond it they would tell anyone what runs
 * here. A source that cannot be read (say, Postgres is down) is a 500; it never rejects.
 */
export async function serveMetrics(req: IncomingMessage, res: ServerResponse, token: string | undefined, host: string): Promise<void> {
  const digest = (value: string) => createHash("sha256").update(value).digest();
  if (token && !timingSafeEqual(digest(req.headers.authorization ?? ""), digest(`Bearer ${token}`))) {
    res.writeHead(401, { "content-type": "application/json" }).end('{"error":"metrics need the metrics token (SLIPWAY_METRICS_TOKEN) as a Bearer token"}');
    return;
  }
  if (!token && !isLoopbackHost(host)) {
    res.writeHead(403, { "content-type": "application/json" }).end('{"error":"Slipway listens beyond loopback, so /metrics needs SLIPWAY_METRICS_TOKEN to be set"}');
    return;
  }
  try {
    const text = await registry.metrics();
    res.writeHead(200, { "content-type": registry.contentType }).end(text);
  } catch {
    res.writeHead(500, { "content-type": "application/json" }).end('{"error":"metrics unavailable"}');
  }
}

/** A worker has no HTTP server of its own; this one serves only GET /metrics (and /healthz). */
export async function startMetricsServer(port: number, host: string, token: string | undefined): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.url === "/healthz") return void res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    if (req.url !== "/metrics" || req.method !== "GET") return void res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
    void serveMetrics(req, res, token, host);
  });
  await listenServer(server, { port, host, setting: "SLIPWAY_METRICS_PORT" });
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === "object" && address ? address.port : port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
