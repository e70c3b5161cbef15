// Owns the gateway's route table: which function URL (route key) this node serves with
// which deployment's runtime, the runtimes those routes need (started once, health-checked,
// retired after SLIPWAY_ACTIVATION_GRACE_SECONDS when no route needs them any more), and how
// the table converges on the desired routes in PostgreSQL (route-sync.ts calls converge).
// Every change to the table also goes to nginx's route files when nginx serves the URLs.
//
// Placement: each route runs on the live gateway nodes rendezvous hashing assigns it
// (rendezvous-nodes.ts; SLIPWAY_PRODUCTION_NODES, SLIPWAY_PREVIEW_NODES). A route assigned
// here is served here (a route); one assigned elsewhere is remembered with its nodes (a
// remote route), and the gateway forwards its calls there. Membership is read from
// gateway_nodes at each converge, so a node joining, dying or leaving re-places routes on
// the next reconcile, and a route that moves away retires here after the grace period.
import type { Logger } from "pino";
import type { ArtifactStore } from "../artifacts/artifact-store.js";
import type { Config } from "../config/load-config.js";
import { prunedReason } from "../deployments/resolve-deployment-target.js";
import { gaugeFromSource, runtimeStarts } from "../metrics/metrics.js";
import type { Runtime } from "../runtimes/runtime-catalog.js";
import { listRoutes, listRoutesForFunction, type Route } from "../store/aliases.js";
import type { Database } from "../store/create-database.js";
import { getDeploymentSettings, type DeploymentSettings } from "../store/deployment-settings.js";
import { getBuildContext, type BuildContext } from "../store/deployments.js";
import { listGatewayNodes, readDesiredRoutes, type FailingRoute } from "../store/gateway-nodes.js";
import { executionTimeoutSeconds } from "../runtime-contract/call-contract.js";
import { HttpError } from "./http-error.js";
import type { DataPlane, FastRoute } from "./nginx-data-plane.js";
import { legacyRouteKey, routeKey } from "./route-key.js";
import type { RuntimeEngine } from "./runtime-engine.js";
import type { RunningRuntime } from "./runtime-containers.js";
import { rendezvousNodes } from "./rendezvous-nodes.js";

export type ServingRoute = { deploymentId: string; functionId: string; alias: string; runtime: RunningRuntime; settings: DeploymentSettings };

/** A gateway node as gateway_nodes names it. */
export type GatewayPeer = { id: string; url: string };
/** A route that runs on other nodes: this node forwards its calls to one of them. */
export type RemoteRoute = { deploymentId: string; functionId: string; alias: string; nodes: GatewayPeer[]; settings: DeploymentSettings };

export type RouteTable = ReturnType<typeof createRouteTable>;

export function createRouteTable(deps: {
  config: Config;
  db: Database;
  engine: RuntimeEngine;
  artifacts: ArtifactStore;
  runtimes: Map<string, Runtime>;
  log: Logger;
  /** This node, as it registers in gateway_nodes. */
  node: GatewayPeer;
  /** The engine's name (RuntimeEngine.identity): live nodes that report the same one share its runtimes. */
  engineIdentity: string;
  /** The execution key nginx sends with a route's calls (executions' guard). */
  executionKey(functionId: string, deploymentId: string): Promise<string>;
  /** The environment a deployment's runtime starts with. */
  runtimeEnvironment(deploymentId: string, functionId: string): Promise<string[]>;
}) {
  const { config, db, engine, log } = deps;
  const routes = new Map<string, ServingRoute>();
  gaugeFromSource("slipway_gateway_routes", "Function URLs this gateway serves, by alias kind (production or preview)", "alias", async () => {
    const counts: Record<string, number> = { production: 0, preview: 0 };
    for (const route of routes.values()) counts[route.alias === "production" ? "production" : "preview"]!++;
    return counts;
  });
  const starting = new Map<string, Promise<RunningRuntime>>();
  const stopping = new Map<string, Promise<void>>();
  const functionLocks = new Map<string, Promise<unknown>>();
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

  // The live nodes (this one always among them), as last read from gateway_nodes.
  let peers: GatewayPeer[] = [deps.node];
  // Live nodes that run their runtimes on this node's engine (see neededByEnginePeer).
  let enginePeers = new Set<string>();
  const remote = new Map<string, RemoteRoute>();
  // A deployment's settings do not change: read once per deployment that runs elsewhere
  // (queued executions and the executions API need them wherever they are asked).
  const remoteSettings = new Map<string, DeploymentSettings>();
  async function settingsOf(deploymentId: string): Promise<DeploymentSettings> {
    let settings = remoteSettings.get(deploymentId);
    if (!settings) remoteSettings.set(deploymentId, (settings = await getDeploymentSettings(db, deploymentId)));
    return settings;
  }
  async function refreshMembership(): Promise<void> {
    const nodes = await listGatewayNodes(db, config.SLIPWAY_GATEWAY_NODE_TTL_SECONDS);
    const live = nodes.filter((node) => node.live && node.id !== deps.node.id);
    peers = [deps.node, ...live.map((node) => ({ id: node.id, url: node.url }))];
    enginePeers = new Set(live.filter((node) => node.engine === deps.engineIdentity).map((node) => node.id));
  }
  /**
   * Whether another live node on this node's engine runs one of the deployment's routes: it
   * uses the very same runtime (an engine has one per deployment), so that node retires it
   * when it is done with it, not this one. Nodes with engines of their own skip the query.
   */
  async function neededByEnginePeer(deploymentId: string): Promise<boolean> {
    if (enginePeers.size === 0) return false;
    const aliased = (await listRoutes(db)).filter((route) => route.deploymentId === deploymentId);
    return aliased.some((route) => placementOf(routeKey(route.slug, route.alias), route.alias === "production" ? "production" : "preview").some((node) => enginePeers.has(node.id)));
  }
  /** The nodes a route runs on: production's count of them, or a preview's (a /d/ URL counts as one). */
  function placementOf(key: string, kind: "production" | "preview"): GatewayPeer[] {
    const count = kind === "production" ? config.SLIPWAY_PRODUCTION_NODES : config.SLIPWAY_PREVIEW_NODES;
    const ids = rendezvousNodes(key, peers.map((peer) => peer.id), count);
    return ids.map((id) => peers.find((peer) => peer.id === id)!);
  }
  function placeRoute(route: Route): GatewayPeer[] | null {
    const nodes = placementOf(routeKey(route.slug, route.alias), route.alias === "production" ? "production" : "preview");
    return nodes.some((node) => node.id === deps.node.id) ? null : nodes;
  }

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
    remote.delete(key);
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
      executionKey: await deps.executionKey(route.functionId, route.deploymentId),
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
          env: deps.runtimeEnvironment(deploymentId, deployment.functionId),
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

  /** A runtime no route here needs, used now: it retires a grace period after its last use rather than its first. */
  function useUnrouted(deploymentId: string): void {
    if (!isRouted(deploymentId)) retireAfterGrace(deploymentId);
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
      if (await neededByEnginePeer(deploymentId).catch(() => true)) {
        log.info({ deploymentId }, "left a deployment's runtime running: another gateway on this engine serves it");
        forgetRuntime(deploymentId);
        return;
      }
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
      const here: Route[] = [];
      const elsewhere = new Set<string>();
      for (const route of list) {
        const nodes = placeRoute(route);
        if (!nodes) here.push(route);
        else {
          const key = routeKey(route.slug, route.alias);
          remote.set(key, { deploymentId: route.deploymentId, functionId, alias: route.alias, nodes, settings: await settingsOf(route.deploymentId) });
          elsewhere.add(key);
        }
      }
      for (const [key, route] of remote) if (route.functionId === functionId && !elsewhere.has(key)) remote.delete(key);
      // An alias removed on another gateway (a closed pull request) goes here too, and so
      // does a route placed on another node now; their containers retire after the grace period.
      const keep = new Set(here.map((r) => routeKey(r.slug, r.alias)));
      for (const [key, route] of routes) {
        if (route.functionId !== functionId || keep.has(key)) continue;
        deleteRoute(key);
        retireAfterGrace(route.deploymentId);
      }
      await applyRoutes(here);
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
    await refreshMembership();
    const wanted = new Map<string, Map<string, string>>();
    const elsewhere = new Map<string, RemoteRoute>();
    for (const route of desired.routes) {
      const nodes = placeRoute(route);
      if (nodes) {
        elsewhere.set(routeKey(route.slug, route.alias), { deploymentId: route.deploymentId, functionId: route.functionId, alias: route.alias, nodes, settings: await settingsOf(route.deploymentId) });
        continue;
      }
      let keys = wanted.get(route.functionId);
      if (!keys) wanted.set(route.functionId, (keys = new Map()));
      keys.set(routeKey(route.slug, route.alias), route.deploymentId);
    }
    // Routes that run elsewhere follow the membership at once: nothing starts or stops for them here.
    for (const key of remote.keys()) if (!elsewhere.has(key)) remote.delete(key);
    for (const [key, route] of elsewhere) if (!routes.has(key)) remote.set(key, route);
    const remoteDeployments = new Set([...elsewhere.values()].map((route) => route.deploymentId));
    for (const deploymentId of remoteSettings.keys()) if (!remoteDeployments.has(deploymentId)) remoteSettings.delete(deploymentId);
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

  /** Containers no route needs any more (say, the gateway died during a grace period) retire. */
  async function retireUnrouted(): Promise<void> {
    for (const deploymentId of await engine.list()) {
      // Only this installation's deployments: another Slipway (a test stack, a second
      // environment) may share the Docker engine, and its containers are not ours to stop.
      if (!isRouted(deploymentId) && (await getBuildContext(db, deploymentId).catch(() => null))) retireAfterGrace(deploymentId);
    }
  }

  return {
    /** Read-only to callers: every change goes through setRoute and deleteRoute. */
    routes: routes as ReadonlyMap<string, ServingRoute>,
    /** Routes that run on other nodes, whose calls this node forwards. */
    remote: remote as ReadonlyMap<string, RemoteRoute>,
    node: deps.node,
    refreshMembership,
    placementOf,
    setRoute,
    deleteRoute,
    ensureRuntime,
    forgetRuntime,
    /** Whether the deployment's runtime is started or starting here. */
    isStarted: (deploymentId: string) => starting.has(deploymentId),
    /** Whether the deployment's runtime is being stopped on purpose (a grace period ended). */
    isStopping: (deploymentId: string) => stopping.has(deploymentId),
    isRouted,
    retireAfterGrace,
    useUnrouted,
    applyRoutes,
    refreshFunction,
    convergeRoutes,
    withFunctionLock,
    currentKeyOf,
    retireUnrouted,
    rewriteRouteFiles,
    /** From now on every route change goes to nginx's route files too. */
    attachDataPlane(plane: DataPlane): void {
      dataPlane = plane;
    },
    close(): void {
      for (const timer of timers) clearTimeout(timer);
    },
  };
}
