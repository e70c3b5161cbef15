// Owns the execution gateway: the activation API (authenticated with the shared gateway
// secret), the route table from function URLs to warm runtime containers, and the proxy
// that serves those URLs. Routes live in Postgres with a revision number; this process
// holds a copy and converges it on Postgres at start, on a hint from another gateway, on a
// Redis reconnect and every SLIPWAY_ROUTE_RECONCILE_SECONDS (route-sync.ts).
import { checkReadiness } from "../health/check-readiness.js";
import { postgresCheck, redisCheck } from "../health/readiness-checks.js";
import { deploymentLogger } from "../logging/deployment-logger.js";
import type Docker from "dockerode";
import type { Redis } from "ioredis";
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { Logger } from "pino";
import { Agent } from "undici";
import { z } from "zod";
import type { ArtifactStore } from "../artifacts/artifact-store.js";
import type { Config } from "../config/load-config.js";
import type { Runtime } from "../runtimes/runtime-catalog.js";
import { getAlias, listRoutesForFunction, removeAlias, switchAlias, type Route } from "../store/aliases.js";
import { currentRouteRevision, readDesiredRoutes, type FailingRoute } from "../store/gateway-nodes.js";
import { recordAudit } from "../store/audit-log.js";
import type { Database } from "../store/create-database.js";
import { prunedReason } from "../deployments/resolve-deployment-target.js";
import { activations, gaugeFromSource, runtimeStarts, serveMetrics } from "../metrics/metrics.js";
import { getBuildContext, type BuildContext } from "../store/deployments.js";
import { createApiRouter } from "../api/create-api-router.js";
import { createGatewayExecutions, type CallRoute } from "../executions/create-gateway-executions.js";
import { getDeploymentSettings, type DeploymentSettings } from "../store/deployment-settings.js";
import { backstopMs, executionTimeoutSeconds, hopByHopHeaders, isRuntimeOnlyResponseHeader, logIdHeader } from "../runtime-contract/call-contract.js";
import { bodyTooLarge, limitBody } from "./limit-body.js";
import { Readable } from "node:stream";
import { startNginxDataPlane, type DataPlane, type FastRoute } from "./nginx-data-plane.js";
import { legacyRouteKey, parseDeploymentPath, parseFunctionPath, routeKey } from "./route-key.js";
import { startRouteSync, type RouteSync } from "./route-sync.js";
import { startRuntimeHealer } from "./heal-runtimes.js";
import { createDockerRuntimeEngine } from "./create-docker-runtime-engine.js";
import type { RunningRuntime } from "./runtime-containers.js";
import { startRuntimePool } from "./runtime-pool.js";
import { runtimeNetworkOf } from "../sandbox/sandbox-networks.js";
import { listenServer } from "../app/listen-server.js";

export type GatewayDependencies = {
  config: Config;
  db: Database;
  docker: Docker;
  artifacts: ArtifactStore;
  runtimes: Map<string, Runtime>;
  publisher: Redis;
  subscriber: Redis;
  log: Logger;
};

const prewarmBody = z.object({ deploymentId: z.uuid() });

const activationBody = z.object({
  deploymentId: z.uuid(),
  alias: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
  // A push activates only if it is newer than what serves and the alias is not pinned; a
  // rollback or promote is explicit and does neither check.
  onlyIfNewer: z.boolean().default(false),
  respectPin: z.boolean().default(false),
  // true pins the alias (a rollback), false unpins it (a promote), absent leaves it.
  pin: z.boolean().optional(),
  action: z.string().min(1).max(40).default("activate"),
  actor: z.string().min(1).max(200).default("slipway"),
  via: z.enum(["push", "comment", "button", "cli", "api", "system", "console"]).default("system"),
});

/** The gateway's own answer when a function ran past its timeout. */
function sendTimeout(res: ServerResponse, executionId: string, seconds: number): void {
  res.writeHead(504, { "content-type": "application/json", "x-slipway-execution-id": executionId });
  res.end(JSON.stringify({ error: `the function exceeded its ${seconds} s timeout` }));
}

function discardBody(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export type Gateway = { server: Server; url: string; close(): Promise<void> };

export async function startGateway(deps: GatewayDependencies): Promise<Gateway> {
  const { config, db, docker, log } = deps;
  type ServingRoute = { deploymentId: string; functionId: string; alias: string; runtime: RunningRuntime; settings: DeploymentSettings };
  const routes = new Map<string, ServingRoute>();
  gaugeFromSource("slipway_gateway_routes", "Function URLs this gateway serves, by alias kind (production or preview)", "alias", async () => {
    const counts: Record<string, number> = { production: 0, preview: 0 };
    for (const route of routes.values()) counts[route.alias === "production" ? "production" : "preview"]!++;
    return counts;
  });
  const starting = new Map<string, Promise<RunningRuntime>>();
  const stopping = new Map<string, Promise<void>>();
  const functionLocks = new Map<string, Promise<unknown>>();
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 128 });
  const maxRequestBytes = config.SLIPWAY_MAX_REQUEST_MB * 1024 * 1024;
  const timers = new Set<NodeJS.Timeout>();
  // One grace-period timer per deployment: a newer one replaces it, and starting the
  // deployment again cancels it, so a stale timer never stops a container someone now wants.
  const retireTimers = new Map<string, NodeJS.Timeout>();
  function cancelRetirement(deploymentId: string): void {
    const timer = retireTimers.get(deploymentId);
    if (!timer) return;
    clearTimeout(timer);
    timers.delete(timer);
    retireTimers.delete(deploymentId);
  }
  let dataPlane: DataPlane | null = null;
  // Started containers per runtime that wait for code: a cold start takes one (runtime-pool.ts).
  const poolSize = config.SLIPWAY_RUNTIME_POOL_SIZE;
  const unknownPooled = Object.keys(poolSize.byRuntime ?? {}).filter((name) => !deps.runtimes.has(name));
  if (unknownPooled.length) throw new Error(`SLIPWAY_RUNTIME_POOL_SIZE names ${unknownPooled.join(", ")}, not a runtime of the catalog (${[...deps.runtimes.keys()].join(", ")})`);
  const pool = await startRuntimePool({
    docker,
    log,
    gatewaySecret: config.SLIPWAY_GATEWAY_SECRET,
    host: config.SLIPWAY_RUNTIME_HOST,
    ports: config.SLIPWAY_RUNTIME_PORTS,
    limits: { memoryMb: config.SLIPWAY_RUNTIME_MEMORY_MB, cpus: config.SLIPWAY_RUNTIME_CPUS },
    network: runtimeNetworkOf(config).name,
    runtimes: [...deps.runtimes.values()].map((runtime) => ({ name: runtime.name, image: runtime.image, sandbox: { user: runtime.user, readOnlyRootfs: runtime.readOnlyRootfs } })),
    sizes: (runtime) => (poolSize.byRuntime ? (poolSize.byRuntime[runtime] ?? 0) : poolSize.all),
    memoryBudgetMb: config.SLIPWAY_RUNTIME_POOL_MEMORY_MB,
    idleSeconds: config.SLIPWAY_RUNTIME_POOL_IDLE_SECONDS,
  });
  // Where runtimes run (runtime-engine.ts): Docker, its pool included.
  const engine = createDockerRuntimeEngine({
    docker,
    log,
    gatewaySecret: config.SLIPWAY_GATEWAY_SECRET,
    host: config.SLIPWAY_RUNTIME_HOST,
    ports: config.SLIPWAY_RUNTIME_PORTS,
    network: runtimeNetworkOf(config).name,
    pool,
  });

  // Every change to `routes` goes through these two, which put it in nginx's route files
  // too (synchronously, so nginx serves it from the next request on). A route's execution
  // key is read first; a later change of the same route wins over one still reading it.
  const routeChanges = new Map<string, number>();
  let changes = 0;
  let routesVersion = 0;
  async function setRoute(key: string, route: ServingRoute): Promise<void> {
    const change = ++changes;
    routeChanges.set(key, change);
    const fast = dataPlane ? await fastRoute(key, route) : null;
    if (routeChanges.get(key) !== change) return;
    routes.set(key, route);
    routesVersion++;
    if (fast) dataPlane?.setRoute(fast);
  }
  function deleteRoute(key: string): void {
    routeChanges.set(key, ++changes);
    routes.delete(key);
    routesVersion++;
    dataPlane?.deleteRoute(key);
  }

  // With SLIPWAY_DATA_PLANE=nginx, nginx serves every route whose container is up itself
  // (asking here first when the function needs a token); the rest reach this process through it.
  async function fastRoute(key: string, route: ServingRoute): Promise<FastRoute> {
    return {
      needsToken: !route.settings.execute.includes("any"),
      key,
      functionId: route.functionId,
      deploymentId: route.deploymentId,
      containerId: route.runtime.containerId,
      upstream: new URL(route.runtime.baseUrl).host,
      runtimeSecret: route.runtime.secret,
      timeoutSeconds: executionTimeoutSeconds(route.settings, config.SLIPWAY_EXECUTION_TIMEOUT_SECONDS, "http"),
      executionKey: await executions.guard.executionKey(route.functionId, route.deploymentId),
    };
  }
  /**
   * Writes every route's file again: when nginx starts, and as execution keys are renewed
   * (the data plane skips a file whose line is unchanged; a route changed meanwhile wins).
   */
  async function rewriteRouteFiles(): Promise<void> {
    for (const [key, route] of routes) await setRoute(key, route);
  }

  /** `known`: the deployment, when the caller has just read it (saves a query on a cold activation). */
  function ensureRuntime(deploymentId: string, known?: BuildContext): Promise<RunningRuntime> {
    let pending = starting.get(deploymentId);
    if (!pending) {
      cancelRetirement(deploymentId);
      pending = (async () => {
        // A grace-period stop may be removing this very container; let it finish first.
        await stopping.get(deploymentId);
        const deployment = known ?? (await getBuildContext(db, deploymentId));
        if (!deployment || deployment.status !== "ready" || !deployment.artifactDigest) {
          throw new HttpError(409, `deployment ${deploymentId} is not ready, so it cannot serve`);
        }
        if (deployment.prunedAt) throw new HttpError(410, prunedReason(deployment.version));
        const runtime = deps.runtimes.get(deployment.runtime);
        if (!runtime) throw new HttpError(409, `runtime ${deployment.runtime} is not in this gateway's catalog`);
        const begun = performance.now();
        const started = await engine.start({
          deploymentId,
          functionId: deployment.functionId,
          image: runtime.image,
          entrypoint: deployment.entrypoint,
          artifact: () => deps.artifacts.open(deployment.artifactDigest!),
          limits: { memoryMb: config.SLIPWAY_RUNTIME_MEMORY_MB, cpus: config.SLIPWAY_RUNTIME_CPUS },
          sandbox: { user: runtime.user, readOnlyRootfs: runtime.readOnlyRootfs },
          // Resolved while the engine is asked about an existing runtime.
          env: executions.runtimeEnvironment(deploymentId, deployment.functionId),
        });
        await engine.waitHealthy(started, config.SLIPWAY_HEALTH_TIMEOUT_SECONDS * 1000);
        if (started.startedAs !== "running") runtimeStarts.observe({ kind: started.startedAs ?? "created" }, (performance.now() - begun) / 1000);
        return started;
      })();
      starting.set(deploymentId, pending);
      pending.catch(() => starting.delete(deploymentId));
    }
    return pending;
  }

  function forgetRuntime(deploymentId: string): void {
    starting.delete(deploymentId);
  }

  function isRouted(deploymentId: string): boolean {
    for (const route of routes.values()) if (route.deploymentId === deploymentId) return true;
    return false;
  }

  function retireAfterGrace(deploymentId: string): void {
    cancelRetirement(deploymentId);
    const timer = setTimeout(async () => {
      timers.delete(timer);
      retireTimers.delete(deploymentId);
      if (isRouted(deploymentId) || stopping.has(deploymentId)) return;
      forgetRuntime(deploymentId);
      const stop = engine.park(deploymentId, config.SLIPWAY_PARKED_RUNTIMES_PER_FUNCTION).finally(() => stopping.delete(deploymentId));
      stopping.set(deploymentId, stop);
      await stop;
      log.info({ deploymentId }, "stopped a deployment after its grace period");
    }, config.SLIPWAY_ACTIVATION_GRACE_SECONDS * 1000);
    timer.unref();
    timers.add(timer);
    retireTimers.set(deploymentId, timer);
  }

  /**
   * Serves these routes. A route whose container cannot start here is not served stale: a
   * route of the same key to another deployment goes too, so calls get a clear error rather
   * than the version the switch replaced. Throws if any route could not be applied.
   */
  async function applyRoutes(list: Route[]): Promise<void> {
    const failures = await Promise.all(
      list.map(async (route) => {
        const key = routeKey(route.slug, route.alias);
        try {
          const runtime = await ensureRuntime(route.deploymentId);
          const settings = await getDeploymentSettings(db, route.deploymentId);
          const previous = routes.get(key);
          await setRoute(key, { deploymentId: route.deploymentId, functionId: route.functionId, alias: route.alias, runtime, settings });
          if (previous && previous.deploymentId !== route.deploymentId) retireAfterGrace(previous.deploymentId);
          return null;
        } catch (error) {
          const previous = routes.get(key);
          if (previous && previous.deploymentId !== route.deploymentId) {
            deleteRoute(key);
            retireAfterGrace(previous.deploymentId);
          }
          log.error({ err: error, deploymentId: route.deploymentId, route: key }, "could not serve a route");
          return `${key}: ${(error as Error).message}`;
        }
      }),
    );
    const failed = failures.filter((failure): failure is string => failure !== null);
    if (failed.length) throw new Error(`could not serve ${failed.join("; ")}`);
  }

  /** Re-reads the function's routes and serves exactly those, under its lock. */
  function refreshFunction(functionId: string): Promise<void> {
    return withFunctionLock(functionId, async () => {
      const list = await listRoutesForFunction(db, functionId);
      // An alias removed on another gateway (a closed pull request) goes here too.
      const keep = new Set(list.map((r) => routeKey(r.slug, r.alias)));
      for (const [key, route] of routes) if (route.functionId === functionId && !keep.has(key)) deleteRoute(key);
      await applyRoutes(list);
    });
  }

  /**
   * Serves what Postgres wants: every function whose routes here differ from the desired
   * ones (a route missing, extra, or on another deployment; one that could not start is
   * missing) is refreshed, and so is one whose runtime was forgotten; the others are left
   * alone. Returns the revision read and the
   * functions that could not be served.
   */
  async function convergeRoutes(): Promise<{ revision: number; failing: FailingRoute[] }> {
    const desired = await readDesiredRoutes(db);
    const wanted = new Map<string, Map<string, string>>();
    for (const route of desired.routes) {
      let keys = wanted.get(route.functionId);
      if (!keys) wanted.set(route.functionId, (keys = new Map()));
      keys.set(routeKey(route.slug, route.alias), route.deploymentId);
    }
    const served = new Map<string, Map<string, string>>();
    const stale = new Set<string>();
    for (const [key, route] of routes) {
      let keys = served.get(route.functionId);
      if (!keys) served.set(route.functionId, (keys = new Map()));
      keys.set(key, route.deploymentId);
      // Its runtime was forgotten (a call found it dead): started again here, if the healer has not.
      if (!starting.has(route.deploymentId)) stale.add(route.functionId);
    }
    for (const functionId of new Set([...wanted.keys(), ...served.keys()])) {
      const want = wanted.get(functionId) ?? new Map<string, string>();
      const have = served.get(functionId) ?? new Map<string, string>();
      if (want.size !== have.size || [...want].some(([key, deploymentId]) => have.get(key) !== deploymentId)) stale.add(functionId);
    }
    const failing: FailingRoute[] = [];
    await Promise.all(
      [...stale].map((functionId) =>
        refreshFunction(functionId).catch((error: Error) => {
          failing.push({ functionId, error: error.message });
        }),
      ),
    );
    if (stale.size) log.info({ revision: desired.revision, refreshed: stale.size, failing: failing.length }, "converged the routes on Postgres");
    return { revision: desired.revision, failing };
  }

  function withFunctionLock<T>(functionId: string, work: () => Promise<T>): Promise<T> {
    const previous = functionLocks.get(functionId) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(work);
    functionLocks.set(functionId, next);
    return next;
  }

  // Starts a container ahead of an expected activation; if none comes, it retires as usual.
  function prewarm(deploymentId: string): void {
    if (starting.has(deploymentId)) return;
    ensureRuntime(deploymentId).then(
      () => {
        if (!isRouted(deploymentId)) retireAfterGrace(deploymentId);
      },
      (error: Error) => log.warn({ deploymentId, err: { message: error.message } }, "could not prewarm a deployment"),
    );
  }

  async function activate(input: z.infer<typeof activationBody>) {
    const started = performance.now();
    const deployment = await getBuildContext(db, input.deploymentId);
    if (!deployment) throw new HttpError(404, `no deployment ${input.deploymentId}`);
    const result = await withFunctionLock(deployment.functionId, async () => {
      if (deployment.status !== "ready") {
        return { activated: false, reason: `v${deployment.version} is ${deployment.status}, not ready`, previousDeploymentId: null, durationMs: performance.now() - started };
      }
      const refuse = (current: { pinned: boolean; version: number } | null): string | null => {
        if (input.respectPin && current?.pinned) {
          return `${input.alias} is pinned to v${current.version} after a rollback; run \`/slipway promote\` or \`/slipway unpin\` to deploy again`;
        }
        if (input.onlyIfNewer && current && current.version > deployment.version) return `v${current.version} is newer and already serving`;
        return null;
      };
      // Cheap early answer for the common case, before starting a container; the same
      // rule is applied again under the alias lock, where it is authoritative. A rollback
      // or promote has no rule to break, so it goes straight to starting the container.
      if (input.respectPin || input.onlyIfNewer) {
        const early = refuse(await getAlias(db, deployment.functionId, input.alias));
        if (early) return { activated: false, reason: early, previousDeploymentId: null, durationMs: performance.now() - started };
      }
      // Start and health-check first; the route switches only once the new version is healthy.
      const runtime = await ensureRuntime(deployment.deploymentId, deployment).catch((error: unknown) => {
        throw error instanceof HttpError ? error : new HttpError(422, `v${deployment.version} did not start: ${(error as Error).message}`);
      });
      const switched = await switchAlias(db, deployment.functionId, input.alias, deployment.deploymentId, {
        ...(input.pin !== undefined ? { pinned: input.pin } : {}),
        guard: refuse,
        afterSwitch: (client, previous) =>
          recordAudit(client, {
            functionId: deployment.functionId,
            action: input.action,
            actor: input.actor,
            via: input.via,
            fromDeploymentId: previous,
            toDeploymentId: deployment.deploymentId,
            detail: { alias: input.alias, ...(input.pin !== undefined ? { pinned: input.pin } : {}) },
          }),
      });
      if (!switched.switched) {
        if (!isRouted(deployment.deploymentId)) retireAfterGrace(deployment.deploymentId);
        return { activated: false, reason: switched.reason, previousDeploymentId: switched.current?.deploymentId ?? null, durationMs: performance.now() - started };
      }
      const previousDeploymentId = switched.previousDeploymentId;
      const settings = await getDeploymentSettings(db, deployment.deploymentId);
      // Served from the next request on, by nginx too.
      await setRoute(routeKey(deployment.slug, input.alias), { deploymentId: deployment.deploymentId, functionId: deployment.functionId, alias: input.alias, runtime, settings });
      // The schedule follows what production serves: registered, replaced or removed here.
      if (input.alias === "production") await executions.applySchedule(deployment.functionId, settings.schedule);
      if (previousDeploymentId && previousDeploymentId !== deployment.deploymentId) retireAfterGrace(previousDeploymentId);
      return { activated: true, previousDeploymentId, revision: switched.revision, durationMs: performance.now() - started };
    });
    if (!result.activated || result.revision === undefined) return result;
    // Outside the lock: done once every live gateway node serves the switch's revision
    // (read-your-writes), or after SLIPWAY_ROUTE_CONFIRM_SECONDS naming the nodes that lag.
    const { unconfirmed, lagging } = await routeSync.announce(deployment.functionId, result.revision);
    deploymentLogger(log, deployment).info(
      { alias: input.alias, previousDeploymentId: result.previousDeploymentId, revision: result.revision, ...(input.action ? { action: input.action, actor: input.actor, via: input.via } : {}), unconfirmed },
      "activated",
    );
    const { revision: _revision, ...answer } = result;
    return { ...answer, durationMs: performance.now() - started, ...(unconfirmed.length ? { unconfirmedGateways: unconfirmed, laggingGateways: lagging } : {}) };
  }

  function authorized(req: IncomingMessage): boolean {
    const given = Buffer.from(req.headers.authorization ?? "");
    const expected = Buffer.from(`Bearer ${config.SLIPWAY_GATEWAY_SECRET}`);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  async function readJson(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > 64 * 1024) throw new HttpError(413, "request body too large");
      chunks.push(chunk as Buffer);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
    } catch {
      throw new HttpError(400, "request body is not JSON");
    }
  }

  // Keys of the form before "~" (<function>--<repo>--<owner>[--<alias>]), each to the one
  // served key it can mean, or null when several can: built again after any route change.
  let legacyKeys: { at: number; keys: Map<string, string | null> } = { at: -1, keys: new Map() };
  function currentKeyOf(legacyKey: string): string | null {
    if (legacyKeys.at !== routesVersion) {
      const keys = new Map<string, string | null>();
      for (const key of routes.keys()) {
        const legacy = legacyRouteKey(key);
        if (legacy) keys.set(legacy, keys.has(legacy) ? null : key);
      }
      legacyKeys = { at: routesVersion, keys };
    }
    return legacyKeys.keys.get(legacyKey) ?? null;
  }

  async function proxy(req: IncomingMessage, res: ServerResponse, key: string, path: string): Promise<void> {
    const route = routes.get(key);
    if (route) return forward(req, res, route, path);
    // A URL of the old form goes on to the one function it can mean (308 keeps the method
    // and body); one that several functions' old URLs share is not guessed at.
    const current = key.includes("~") ? null : currentKeyOf(key);
    if (current) {
      res.writeHead(308, { location: `${config.publicUrl}/fn/${current}${path}` }).end();
      return;
    }
    throw new HttpError(404, `no function is deployed at /fn/${key}/`);
  }

  // /d/<deployment id>/: one deployment's immutable URL, whatever its aliases say. Its
  // container starts on demand and, unless an alias needs it, stops after the grace period.
  // Permission is checked first: a caller who may not call it starts nothing.
  async function proxyDeployment(req: IncomingMessage, res: ServerResponse, deploymentId: string, path: string): Promise<void> {
    const { decision } = await executions.authorizeCall(req, { deploymentId });
    if (!decision.allowed) throw new HttpError(decision.status, decision.message);
    const fresh = !starting.has(deploymentId);
    const runtime = await ensureRuntime(deploymentId);
    if (fresh && !isRouted(deploymentId)) retireAfterGrace(deploymentId);
    return forward(req, res, { deploymentId, runtime }, path);
  }

  // A closed pull request: the alias goes, and so do the containers only it needed.
  const aliasRemovalBody = z.object({ functionId: z.uuid(), alias: z.string().regex(/^pr-\d+$/) });
  async function removePreviewAlias(input: z.infer<typeof aliasRemovalBody>): Promise<{ removed: boolean; stopped: number }> {
    const result = await withFunctionLock(input.functionId, async () => {
      const previous = await removeAlias(db, input.functionId, input.alias);
      for (const [key, route] of routes) if (route.functionId === input.functionId && key.endsWith(`--${input.alias}`)) deleteRoute(key);
      const built = await db.query<{ id: string }>(
        "select d.id from deployments d join deployment_targets t on t.deployment_id = d.id where d.function_id = $1 and t.alias = $2",
        [input.functionId, input.alias],
      );
      let stopped = 0;
      for (const { id } of built.rows) {
        if (isRouted(id)) continue;
        forgetRuntime(id);
        await engine.stop(id);
        stopped++;
      }
      log.info({ functionId: input.functionId, alias: input.alias, previous, stopped }, "alias removed");
      return { removed: previous !== null, stopped, revision: await currentRouteRevision(db) };
    });
    await routeSync.announce(input.functionId, result.revision);
    return { removed: result.removed, stopped: result.stopped };
  }

  async function forward(req: IncomingMessage, res: ServerResponse, route: CallRoute & { runtime: RunningRuntime }, path: string): Promise<void> {
    const call = await executions.beginCall(req, route, path);
    if (call.refused) throw new HttpError(call.status, call.message);
    const headers = call.headers;
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const timeoutMs = call.timeoutSeconds * 1000;
    const sentAt = performance.now();
    let timedOut = false;
    try {
      // stream() hands the upstream body straight to the client's response: no
      // intermediate stream object or pipeline per request on this hot path.
      let statusCode = 502;
      let logId: string | string[] | undefined;
      await agent.stream(
        {
          origin: route.runtime.baseUrl,
          path,
          method: (req.method ?? "GET") as "GET",
          headers,
          // A declared length was checked before the call began; only a chunked body is counted.
          body: hasBody ? (req.headers["content-length"] === undefined ? Readable.from(limitBody(req, maxRequestBytes)) : req) : null,
          // The runtime enforces the timeout; these only catch a runtime that does not.
          headersTimeout: backstopMs(call.timeoutSeconds),
          bodyTimeout: backstopMs(call.timeoutSeconds),
        },
        ({ statusCode: status, headers: upstreamHeaders }) => {
          statusCode = status;
          logId = upstreamHeaders[logIdHeader];
          // A runtime that stops a function at its timeout answers a bare 500 (and says so
          // only in the errors log). No answer of the function's own comes that late, as
          // the runtime would have stopped it, so a 500 after the timeout is a timeout.
          if (status === 500 && performance.now() - sentAt >= timeoutMs) {
            timedOut = true;
            sendTimeout(res, call.executionId, call.timeoutSeconds);
            return discardBody();
          }
          const outHeaders: Record<string, string | string[]> = {};
          for (const name in upstreamHeaders) {
            const value = upstreamHeaders[name];
            if (value === undefined || hopByHopHeaders.has(name) || isRuntimeOnlyResponseHeader(name)) continue;
            outHeaders[name] = value;
          }
          outHeaders["x-slipway-execution-id"] = call.executionId;
          res.writeHead(status, outHeaders);
          return res;
        },
      );
      call.finish(timedOut ? 504 : statusCode, logId, timedOut);
    } catch (error) {
      const tooLarge = bodyTooLarge(error);
      if (tooLarge && !res.headersSent) {
        call.fail(tooLarge, false);
        throw new HttpError(413, tooLarge.message);
      }
      const name = (error as Error).name;
      timedOut ||= name === "HeadersTimeoutError" || name === "BodyTimeoutError";
      call.fail(error, timedOut);
      // The container may have died; the next request starts it again.
      forgetRuntime(route.deploymentId);
      // Part of the answer is out already: cut it short rather than append an error to it.
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (timedOut) return sendTimeout(res, call.executionId, call.timeoutSeconds);
      throw new HttpError(502, `the function did not answer: ${(error as Error).message}`);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? "/";
    if (url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true, routes: routes.size }));
      return;
    }
    if (url === "/readyz") {
      return checkReadiness(
        [
          postgresCheck(db),
          redisCheck(deps.publisher),
          { name: "docker", check: () => engine.ping() },
          { name: "data plane", check: async () => dataPlane?.checkServing() },
        ],
        res,
      );
    }
    if (url === "/metrics" && req.method === "GET") return serveMetrics(req, res, config.SLIPWAY_METRICS_TOKEN, config.SLIPWAY_HOST);
    // nginx asking whether a call may run a function that needs a token (see FastRoute).
    // Only nginx reaches this server in that mode: it listens on loopback, and nginx serves
    // this path to its own subrequests only.
    if (dataPlane && url.startsWith("/.slipway/authorize/")) {
      const route = routes.get(url.slice("/.slipway/authorize/".length));
      let decision = route ? executions.guard.authorize(req, route, route.settings.execute) : { allowed: false as const, status: 403, message: "" };
      if (decision instanceof Promise) decision = await decision;
      res.writeHead(decision.allowed ? 204 : decision.status === 401 ? 401 : 403).end();
      return;
    }
    if (url === "/v1/aliases/remove" && req.method === "POST") {
      if (!authorized(req)) throw new HttpError(401, "alias removal requires the gateway secret as a Bearer token");
      const parsed = aliasRemovalBody.safeParse(await readJson(req));
      if (!parsed.success) throw new HttpError(400, parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(await removePreviewAlias(parsed.data)));
      return;
    }
    if (url === "/v1/prewarm" && req.method === "POST") {
      if (!authorized(req)) throw new HttpError(401, "prewarm requires the gateway secret as a Bearer token");
      const parsed = prewarmBody.safeParse(await readJson(req));
      if (!parsed.success) throw new HttpError(400, parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
      prewarm(parsed.data.deploymentId);
      res.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify({ warming: true }));
      return;
    }
    if (url === "/v1/activations" && req.method === "POST") {
      if (!authorized(req)) throw new HttpError(401, "activation requires the gateway secret as a Bearer token");
      const parsed = activationBody.safeParse(await readJson(req));
      if (!parsed.success) throw new HttpError(400, parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
      const result = await activate(parsed.data).catch((error: unknown) => {
        activations.inc({ outcome: "failed" });
        throw error;
      });
      activations.inc({ outcome: result.activated ? "activated" : "refused" });
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(result));
      return;
    }
    if (api.handle(req, res)) return;
    // A body over the limit is refused before a runtime is started or a byte is sent on; one
    // without a length (chunked) is cut off at the limit by limitBody.
    if (Number(req.headers["content-length"] ?? 0) > maxRequestBytes) throw new HttpError(413, `the request body is larger than ${config.SLIPWAY_MAX_REQUEST_MB} MB (SLIPWAY_MAX_REQUEST_MB)`);
    const target = parseFunctionPath(url);
    if (target) return proxy(req, res, target.key, target.path);
    const immutable = parseDeploymentPath(url);
    if (immutable) return proxyDeployment(req, res, immutable.deploymentId, immutable.path);
    throw new HttpError(404, "not found");
  }

  const api = createApiRouter({ db, title: "Slipway gateway API", onError: (error, req) => log.error({ err: error, url: req.url }, "API request failed") });
  const executions = await createGatewayExecutions({
    config,
    db,
    docker,
    engine,
    connection: deps.publisher,
    dispatcher: agent,
    api,
    log,
    findProduction: (idOrSlug) => {
      const bySlug = routes.get(idOrSlug) ?? routes.get(currentKeyOf(idOrSlug) ?? "");
      if (bySlug?.alias === "production") return bySlug;
      for (const route of routes.values()) if (route.alias === "production" && route.functionId === idOrSlug) return route;
      return null;
    },
    findProductionByAppwriteId: (appwriteId) => [...routes.values()].filter((route) => route.alias === "production" && route.settings.appwrite?.functionId === appwriteId),
    refreshRoutes: (functionId) => refreshFunction(functionId).catch(() => {}),
    ensureRuntime,
    forgetRuntime,
  });

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      const message = error instanceof HttpError ? error.message : "internal error";
      if (status >= 500) log.error({ err: error, url: req.url }, "gateway request failed");
      if (!res.headersSent) res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: message }));
    });
  });

  // Registers this node and serves the desired routes before it returns.
  const routeSync: RouteSync = await startRouteSync({
    prefix: config.SLIPWAY_QUEUE_PREFIX,
    db,
    publisher: deps.publisher,
    subscriber: deps.subscriber,
    node: { id: config.gatewayNodeId, url: config.gatewayNodeUrl },
    heartbeatSeconds: config.SLIPWAY_GATEWAY_HEARTBEAT_SECONDS,
    liveSeconds: config.SLIPWAY_GATEWAY_NODE_TTL_SECONDS,
    reconcileSeconds: config.SLIPWAY_ROUTE_RECONCILE_SECONDS,
    confirmTimeoutMs: config.SLIPWAY_ROUTE_CONFIRM_SECONDS * 1000,
    log,
    converge: convergeRoutes,
  });
  // Containers no route needs any more (say, the gateway died during a grace period).
  for (const deploymentId of await engine.list()) {
    // Only this installation's deployments: another Slipway (a test stack, a second
    // environment) may share the Docker engine, and its containers are not ours to stop.
    if (!isRouted(deploymentId) && (await getBuildContext(db, deploymentId).catch(() => null))) retireAfterGrace(deploymentId);
  }
  // A routed runtime that dies or hangs is started again, and its routes follow it.
  const healer = startRuntimeHealer({
    engine,
    db,
    log,
    served: () => [...routes.values()].map((route) => route.runtime),
    stoppingOnPurpose: (deploymentId) => stopping.has(deploymentId),
    forget: forgetRuntime,
    restart: async (deploymentId) => {
      const functionIds = new Set([...routes.values()].filter((route) => route.deploymentId === deploymentId).map((route) => route.functionId));
      for (const functionId of functionIds) await refreshFunction(functionId);
    },
    describe: async (deploymentId) => {
      const deployment = await getBuildContext(db, deploymentId);
      return deployment ? { functionId: deployment.functionId, version: deployment.version } : null;
    },
  });
  log.info({ routes: routes.size, node: routeSync.nodeId }, "gateway routes restored");
  await executions.startConsumers({ bootedAt: routeSync.bootedAt });

  const nginx = config.SLIPWAY_DATA_PLANE === "nginx";
  // Behind nginx, this server takes only what nginx passes it, on loopback.
  await listenServer(server, nginx ? { port: 0, host: "127.0.0.1", setting: "the gateway's internal port" } : { port: config.SLIPWAY_GATEWAY_PORT, host: config.SLIPWAY_HOST, setting: "SLIPWAY_GATEWAY_PORT" });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.SLIPWAY_GATEWAY_PORT;
  if (nginx) {
    dataPlane = await startNginxDataPlane({
      binary: config.SLIPWAY_NGINX_BINARY,
      jsModule: config.SLIPWAY_NGINX_JS_MODULE,
      runtimeHost: config.SLIPWAY_RUNTIME_HOST,
      runtimePorts: config.SLIPWAY_RUNTIME_PORTS,
      maxRequestMb: config.SLIPWAY_MAX_REQUEST_MB,
      workers: config.SLIPWAY_NGINX_WORKERS,
      dir: config.SLIPWAY_NGINX_DIR ?? join(tmpdir(), `slipway-gateway-${config.SLIPWAY_GATEWAY_PORT}`),
      host: config.SLIPWAY_HOST,
      port: config.SLIPWAY_GATEWAY_PORT,
      gatewayPort: port,
      apiUrl: config.publicUrl,
      log,
      onCall: (call) => executions.recordDataPlaneCall(call),
      onExit: (code) => {
        log.fatal({ code }, "nginx stopped; the gateway cannot serve without it");
        process.exit(1);
      },
    });
    await rewriteRouteFiles();
    // Execution keys are renewed well before they expire; the route files carry the new one.
    const renew = setInterval(() => void rewriteRouteFiles().catch((error: Error) => log.error({ err: { message: error.message } }, "could not renew the routes' execution keys")), 60_000);
    renew.unref();
    timers.add(renew);
    log.info("nginx serves public function URLs");
  }
  return {
    server,
    url: `http://127.0.0.1:${nginx ? config.SLIPWAY_GATEWAY_PORT : port}`,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      healer.close();
      await engine.close();
      await routeSync.close();
      await dataPlane?.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await executions.close();
      await agent.close();
    },
  };
}
