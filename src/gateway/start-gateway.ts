// Owns the execution gateway's HTTP server and its wiring: which request goes where (control
// endpoints authenticated with the shared gateway secret, function and /d/ URLs run here or
// forwarded to the gateway node placement gives them), and start-up and shutdown. Routes
// live in Postgres with a revision number; this process holds a copy and converges it on
// Postgres at start, on a hint from another gateway, on a Redis reconnect and every
// SLIPWAY_ROUTE_RECONCILE_SECONDS (route-sync.ts). The nouns are modules of their own: the
// route table and placement (create-route-table.ts), activation (create-activation.ts), the
// runtime engine (runtime-engine.ts), the call to a runtime (create-runtime-proxy.ts), the
// forward to another node (forward-to-node.ts) and the open-runtimes call contract
// (call-contract.ts).
import { checkReadiness } from "../health/check-readiness.js";
import { postgresCheck, redisCheck } from "../health/readiness-checks.js";
import type Docker from "dockerode";
import type { Redis } from "ioredis";
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import { Agent } from "undici";
import type { ArtifactStore } from "../artifacts/artifact-store.js";
import type { Config } from "../config/load-config.js";
import type { Runtime } from "../runtimes/runtime-catalog.js";
import type { Database } from "../store/create-database.js";
import { activations, serveMetrics } from "../metrics/metrics.js";
import { getBuildContext } from "../store/deployments.js";
import { createApiRouter } from "../api/create-api-router.js";
import { createGatewayExecutions } from "../executions/create-gateway-executions.js";
import { backstopMs, forwardedCallHeader, syncTimeoutCeilingSeconds } from "../runtime-contract/call-contract.js";
import { startNginxDataPlane, type DataPlane } from "./nginx-data-plane.js";
import { deploymentKey, parseDeploymentPath, parseFunctionPath } from "./route-key.js";
import { startRouteSync, type RouteSync } from "./route-sync.js";
import { startRuntimeHealer } from "./heal-runtimes.js";
import { createDockerRuntimeEngine } from "./create-docker-runtime-engine.js";
import { startRuntimePool } from "./runtime-pool.js";
import { runtimeNetworkOf } from "../sandbox/sandbox-networks.js";
import { listenServer } from "../app/listen-server.js";
import { createRouteTable } from "./create-route-table.js";
import { activationBody, aliasRemovalBody, createActivation, placedActivationHeader, prewarmBody } from "./create-activation.js";
import { HttpError } from "./http-error.js";
import { createRuntimeProxy } from "./create-runtime-proxy.js";
import type { GatewayPeer } from "./create-route-table.js";
import { verifyForwardedCall } from "./forwarded-call.js";
import { forwardToNode, NodeUnreachable } from "./forward-to-node.js";

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

export type Gateway = { server: Server; url: string; close(): Promise<void> };

export async function startGateway(deps: GatewayDependencies): Promise<Gateway> {
  const { config, db, docker, log } = deps;
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 128 });
  const maxRequestBytes = config.SLIPWAY_MAX_REQUEST_MB * 1024 * 1024;
  const timers = new Set<NodeJS.Timeout>();
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

  // Late-bound: the executions module and the route table each need the other.
  let executions: Awaited<ReturnType<typeof createGatewayExecutions>>;
  // Nodes on one engine (several gateways on one host) see each other by this name.
  const engineIdentity = await engine.identity().catch(() => `unknown:${config.gatewayNodeId}`);
  const table = createRouteTable({
    config,
    db,
    engine,
    artifacts: deps.artifacts,
    runtimes: deps.runtimes,
    log,
    node: { id: config.gatewayNodeId, url: config.gatewayNodeUrl },
    engineIdentity,
    executionKey: (functionId, deploymentId) => executions.guard.executionKey(functionId, deploymentId),
    runtimeEnvironment: (deploymentId, functionId) => executions.runtimeEnvironment(deploymentId, functionId),
  });
  const { routes } = table;
  let routeSync: RouteSync;
  const forward = createRuntimeProxy({ agent, maxRequestBytes, beginCall: (req, route, path) => executions.beginCall(req, route, path), forgetRuntime: table.forgetRuntime });
  const activation = createActivation({ config, db, engine, table, log, applySchedule: (functionId, schedule) => executions.applySchedule(functionId, schedule), routeSync: () => routeSync });

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

  /** The deployment another gateway node forwarded this call for; null for a client's own call. */
  function forwardedFor(req: IncomingMessage): string | null {
    return verifyForwardedCall(config.SLIPWAY_GATEWAY_SECRET, req.headers[forwardedCallHeader], req.method ?? "GET", req.url ?? "/");
  }
  // A forwarded call may wait for a cold start on the node that runs the function, then for the function.
  const forwardTimeoutMs = config.SLIPWAY_HEALTH_TIMEOUT_SECONDS * 1000 + backstopMs(syncTimeoutCeilingSeconds);
  /**
   * Forwards the call to a node that runs it: several run it (a count above 1), so any will do,
   * in random order. When none can be reached before the call's body was read (a node died
   * and its heartbeat is not yet old enough for placement to move the route), it is served
   * here, as the next reconcile after the TTL would place it anyway.
   */
  async function forwardElsewhere(req: IncomingMessage, res: ServerResponse, nodes: GatewayPeer[], deploymentId: string, path: string): Promise<void> {
    const order = [...nodes].sort(() => Math.random() - 0.5);
    const unreachable: string[] = [];
    for (const node of order) {
      try {
        return await forwardToNode(agent, req, res, { node, deploymentId, secret: config.SLIPWAY_GATEWAY_SECRET, maxRequestBytes, timeoutMs: forwardTimeoutMs });
      } catch (error) {
        if (!(error instanceof NodeUnreachable)) throw error;
        unreachable.push(error.message);
      }
    }
    log.warn({ deploymentId, unreachable }, "no gateway node placed on this function answered: serving the call here");
    return serveDeployment(req, res, deploymentId, path);
  }

  async function proxy(req: IncomingMessage, res: ServerResponse, key: string, path: string): Promise<void> {
    const route = routes.get(key);
    if (route) return forward(req, res, route, path);
    // Forwarded here by a node that placed the route on this one: served here whatever this
    // node thinks of the placement (the two may briefly disagree), so never forwarded twice.
    const forwarded = forwardedFor(req);
    if (forwarded) return serveDeployment(req, res, forwarded, path);
    const elsewhere = table.remote.get(key);
    if (elsewhere) return forwardElsewhere(req, res, elsewhere.nodes, elsewhere.deploymentId, path);
    // A URL of the old form goes on to the one function it can mean (308 keeps the method
    // and body); one that several functions' old URLs share is not guessed at.
    const current = key.includes("~") ? null : table.currentKeyOf(key);
    if (current) {
      res.writeHead(308, { location: `${config.publicUrl}/fn/${current}${path}` }).end();
      return;
    }
    throw new HttpError(404, `no function is deployed at /fn/${key}/`);
  }

  // /d/<deployment id>/: one deployment's immutable URL, whatever its aliases say. Its
  // container starts on demand and, unless an alias needs it, stops after the grace period.
  // Permission is checked first: a caller who may not call it starts nothing.
  // It runs on the node placement gives it, as a preview does; the others forward to it.
  async function proxyDeployment(req: IncomingMessage, res: ServerResponse, deploymentId: string, path: string): Promise<void> {
    if (forwardedFor(req) !== deploymentId && !table.isStarted(deploymentId)) {
      // A deployment an alias runs elsewhere is called there, on its container.
      const aliased = [...table.remote.values()].find((route) => route.deploymentId === deploymentId);
      const nodes = aliased?.nodes ?? table.placementOf(deploymentKey(deploymentId), "preview");
      if (!nodes.some((node) => node.id === table.node.id)) return forwardElsewhere(req, res, nodes, deploymentId, path);
    }
    return serveDeployment(req, res, deploymentId, path);
  }
  async function serveDeployment(req: IncomingMessage, res: ServerResponse, deploymentId: string, path: string): Promise<void> {
    const { decision } = await executions.authorizeCall(req, { deploymentId });
    if (!decision.allowed) throw new HttpError(decision.status, decision.message);
    const fresh = !table.isStarted(deploymentId);
    const runtime = await table.ensureRuntime(deploymentId);
    if (fresh && !table.isRouted(deploymentId)) table.retireAfterGrace(deploymentId);
    return forward(req, res, { deploymentId, runtime }, path);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? "/";
    if (url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true, routes: routes.size, forwarded: table.remote.size }));
      return;
    }
    if (url === "/readyz") {
      return checkReadiness(
        [
          postgresCheck(db),
          redisCheck(deps.publisher),
          { name: "docker", check: () => engine.ping() },
          { name: "data plane", check: async () => dataPlane?.checkServing() },
          {
            name: "node id",
            check: async () => {
              if (routeSync.conflict) throw new Error(routeSync.conflict);
            },
          },
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
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(await activation.removePreviewAlias(parsed.data)));
      return;
    }
    if (url === "/v1/prewarm" && req.method === "POST") {
      if (!authorized(req)) throw new HttpError(401, "prewarm requires the gateway secret as a Bearer token");
      const parsed = prewarmBody.safeParse(await readJson(req));
      if (!parsed.success) throw new HttpError(400, parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
      activation.prewarm(parsed.data.deploymentId);
      // A prewarm is for a rollback or promote of production: the nodes placed on it warm it too.
      routeSync.warm(parsed.data.deploymentId, "production");
      res.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify({ warming: true }));
      return;
    }
    if (url === "/v1/activations" && req.method === "POST") {
      if (!authorized(req)) throw new HttpError(401, "activation requires the gateway secret as a Bearer token");
      const parsed = activationBody.safeParse(await readJson(req));
      if (!parsed.success) throw new HttpError(400, parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
      // Counted once, by the node that carried it out.
      const result = await activation.activate(parsed.data, { placed: req.headers[placedActivationHeader] !== undefined }).catch((error: unknown) => {
        if (!activation.carriedOutElsewhere(error)) activations.inc({ outcome: "failed" });
        throw error;
      });
      if (!activation.carriedOutElsewhere(result)) activations.inc({ outcome: result.activated ? "activated" : "refused" });
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
  executions = await createGatewayExecutions({
    config,
    db,
    engine,
    connection: deps.publisher,
    dispatcher: agent,
    api,
    log,
    findProduction: (idOrSlug) => {
      const bySlug = routes.get(idOrSlug) ?? routes.get(table.currentKeyOf(idOrSlug) ?? "");
      if (bySlug?.alias === "production") return bySlug;
      for (const route of routes.values()) if (route.alias === "production" && route.functionId === idOrSlug) return route;
      // Production placed on other nodes (SLIPWAY_PRODUCTION_NODES): a queued execution or
      // an executions API call that reaches this node runs it here all the same.
      const elsewhere = table.remote.get(idOrSlug);
      if (elsewhere?.alias === "production") return elsewhere;
      for (const route of table.remote.values()) if (route.alias === "production" && route.functionId === idOrSlug) return route;
      return null;
    },
    findProductionByAppwriteId: (appwriteId) => [...routes.values(), ...table.remote.values()].filter((route) => route.alias === "production" && route.settings.appwrite?.functionId === appwriteId),
    refreshRoutes: (functionId) => table.refreshFunction(functionId).catch(() => {}),
    // A runtime started here for a production placed elsewhere retires a grace period after its last use.
    ensureRuntime: (deploymentId) => {
      const runtime = table.ensureRuntime(deploymentId);
      runtime.then(() => table.useUnrouted(deploymentId), () => {});
      return runtime;
    },
    forgetRuntime: table.forgetRuntime,
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
  routeSync = await startRouteSync({
    prefix: config.SLIPWAY_QUEUE_PREFIX,
    db,
    publisher: deps.publisher,
    subscriber: deps.subscriber,
    node: { id: config.gatewayNodeId, url: config.gatewayNodeUrl, engine: engineIdentity },
    heartbeatSeconds: config.SLIPWAY_GATEWAY_HEARTBEAT_SECONDS,
    liveSeconds: config.SLIPWAY_GATEWAY_NODE_TTL_SECONDS,
    reconcileSeconds: config.SLIPWAY_ROUTE_RECONCILE_SECONDS,
    confirmTimeoutMs: config.SLIPWAY_ROUTE_CONFIRM_SECONDS * 1000,
    log,
    converge: table.convergeRoutes,
    onWarm: (deploymentId, alias) => void activation.prewarmIfPlaced(deploymentId, alias).catch((error: Error) => log.warn({ deploymentId, err: { message: error.message } }, "could not prewarm a deployment for another node's activation")),
  });
  // Containers no route needs any more (say, the gateway died during a grace period).
  await table.retireUnrouted();
  // A routed runtime that dies or hangs is started again, and its routes follow it.
  const healer = startRuntimeHealer({
    engine,
    db,
    log,
    served: () => [...routes.values()].map((route) => route.runtime),
    stoppingOnPurpose: table.isStopping,
    forget: table.forgetRuntime,
    restart: async (deploymentId) => {
      const functionIds = new Set([...routes.values()].filter((route) => route.deploymentId === deploymentId).map((route) => route.functionId));
      for (const functionId of functionIds) await table.refreshFunction(functionId);
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
    table.attachDataPlane(dataPlane);
    await table.rewriteRouteFiles();
    // Execution keys are renewed well before they expire; the route files carry the new one.
    const renew = setInterval(() => void table.rewriteRouteFiles().catch((error: Error) => log.error({ err: { message: error.message } }, "could not renew the routes' execution keys")), 60_000);
    renew.unref();
    timers.add(renew);
    log.info("nginx serves public function URLs");
  }
  return {
    server,
    url: `http://127.0.0.1:${nginx ? config.SLIPWAY_GATEWAY_PORT : port}`,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      table.close();
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