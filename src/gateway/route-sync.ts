// Owns how gateway nodes converge on the desired routes. PostgreSQL holds them (the aliases
// table) with a revision number that every change bumps; each node serves its own copy and
// reconciles it with PostgreSQL:
//   - on a hint, published over Redis by the node that made a change;
//   - when its Redis connection comes back (it may have missed hints meanwhile);
//   - every SLIPWAY_ROUTE_RECONCILE_SECONDS, so a node that missed news, restarted or was
//     partitioned catches up by itself even if no hint ever reaches it.
// Each node registers in gateway_nodes, renews its heartbeat every
// SLIPWAY_GATEWAY_HEARTBEAT_SECONDS, and after each reconcile reports the revision it serves.
// A switch is reported done once every live node (heartbeat younger than
// SLIPWAY_GATEWAY_NODE_TTL_SECONDS) serves its revision, or after
// SLIPWAY_ROUTE_CONFIRM_SECONDS, naming the nodes that lag and why. A node whose heartbeat
// stops during the wait is named at once and not waited for.
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Database } from "../store/create-database.js";
import { heartbeatGatewayNode, listGatewayNodes, registerGatewayNode, removeGatewayNode, reportServedRevision, type FailingRoute } from "../store/gateway-nodes.js";

/** A live node that did not serve a switch when it was reported, and why. */
export type LaggingGateway = { id: string; url: string; servedRevision: number; reason: string };

export type RouteSync = {
  readonly nodeId: string;
  /** When this node registered, by the database's clock. */
  readonly bootedAt: Date;
  /** Set once another live process has registered under this node's id: what to fix (readiness fails with it). */
  readonly conflict: string | null;
  /** Reconciles this node now (or right after the pass under way) and reports what it serves. */
  reconcile(): Promise<void>;
  /**
   * Hints every node on another engine that a deployment is about to serve `alias` (an
   * activation is starting it), so the nodes placed on it start theirs meanwhile rather than
   * after the switch. Best effort; nodes on this node's engine share its runtime already.
   */
  warm(deploymentId: string, alias: string): void;
  /** Hints every node that the routes changed, then waits until every live node serves `revision` (see the header). */
  announce(functionId: string, revision: number): Promise<{ unconfirmed: string[]; lagging: LaggingGateway[] }>;
  close(): Promise<void>;
};

/** Said of a switch that some gateway did not confirm: those may still serve the version it replaced. */
export function unconfirmedNote(gateways: string[] | undefined): string {
  if (!gateways?.length) return "";
  return `${gateways.length} gateway${gateways.length === 1 ? "" : "s"} did not confirm serving it (${gateways.join("; ")}); see their logs`;
}

type Hint = { functionId: string; revision: number; from: string };
type WarmHint = { deploymentId: string; alias: string; from: string; engine: string | null };

const pollMs = 200;

export async function startRouteSync(options: {
  prefix: string;
  db: Database;
  publisher: Redis;
  subscriber: Redis;
  /** engine: what RuntimeEngine.identity names, so nodes on one engine know each other. */
  node: { id: string; url: string; engine?: string };
  heartbeatSeconds: number;
  liveSeconds: number;
  reconcileSeconds: number;
  confirmTimeoutMs: number;
  log: Logger;
  /**
   * Makes this node serve the desired routes; returns the revision it read them at and the
   * functions whose routes it could not serve (it serves none of their stale routes instead).
   */
  converge(): Promise<{ revision: number; failing: FailingRoute[] }>;
  /** Another node's warm hint (RouteSync.warm), for a node on another engine. */
  onWarm?(deploymentId: string, alias: string): void;
}): Promise<RouteSync> {
  const { db, publisher, subscriber, log, node } = options;
  const channel = `${options.prefix}:routes`;
  const warmChannel = `${options.prefix}:warm`;
  const timers: NodeJS.Timeout[] = [];
  let closed = false;
  let servedRevision = 0;

  // Registered before the routes are read: a switch from now on waits for this node too.
  const bootedAt = await registerGatewayNode(db, node);
  // Two live processes under one node id would each take the other's place in every answer.
  let conflict: string | null = null;
  const heartbeat = setInterval(() => {
    heartbeatGatewayNode(db, { ...node, bootedAt }).then(
      ({ takenBy }) => {
        if (!takenBy || conflict) return;
        conflict = `another gateway process registered as node '${node.id}' at ${takenBy.toISOString()}, while this one (booted ${bootedAt.toISOString()}) still runs: give each gateway its own SLIPWAY_GATEWAY_NODE_ID (default <hostname>:<port>)`;
        log.error({ node: node.id }, conflict);
      },
      (error: Error) => log.warn({ err: { message: error.message } }, "could not renew this gateway node's heartbeat"),
    );
  }, options.heartbeatSeconds * 1000);
  heartbeat.unref();
  timers.push(heartbeat);

  // One pass at a time; asked for during a pass, one more runs right after it.
  let running: Promise<void> | null = null;
  let queued: Promise<void> | null = null;
  async function pass(): Promise<void> {
    if (closed) return;
    try {
      const { revision, failing } = await options.converge();
      if (closed) return;
      await reportServedRevision(db, { id: node.id, bootedAt }, revision, failing);
      if (revision !== servedRevision || failing.length) log.debug({ revision, failing }, "routes reconciled");
      servedRevision = revision;
    } catch (error) {
      log.warn({ err: { message: (error as Error).message } }, "could not reconcile the routes with PostgreSQL; trying again shortly");
    }
  }
  function reconcile(): Promise<void> {
    if (queued) return queued;
    if (!running) {
      running = pass().finally(() => (running = null));
      return running;
    }
    queued = running.then(() => {
      queued = null;
      running = pass().finally(() => (running = null));
      return running;
    });
    return queued;
  }

  await subscriber.subscribe(channel, warmChannel);
  subscriber.on("message", (from: string, message: string) => {
    if (from === warmChannel) {
      try {
        const warm = JSON.parse(message) as WarmHint;
        if (warm.from !== node.id && warm.engine !== (node.engine ?? null)) options.onWarm?.(warm.deploymentId, warm.alias);
      } catch {}
      return;
    }
    if (from !== channel) return;
    let hint: Hint;
    try {
      hint = JSON.parse(message) as Hint;
    } catch {
      return;
    }
    if (hint.from === node.id || hint.revision <= servedRevision) return;
    void reconcile();
  });
  // Every `ready` from now on is a reconnect: hints sent meanwhile are lost, so look.
  const onReady = () => {
    log.info("reconnected to Redis: reconciling the routes with PostgreSQL");
    void reconcile();
  };
  subscriber.on("ready", onReady);

  await reconcile();
  const timer = setInterval(() => void reconcile(), options.reconcileSeconds * 1000);
  timer.unref();
  timers.push(timer);

  async function waitForNodes(functionId: string, revision: number): Promise<LaggingGateway[]> {
    const deadline = Date.now() + options.confirmTimeoutMs;
    // Other nodes usually catch up within a hint's round trip: look again soon, then less often.
    let delayMs = 25;
    let liveAtStart: Set<string> | null = null;
    for (;;) {
      const nodes = await listGatewayNodes(db, options.liveSeconds);
      liveAtStart ??= new Set(nodes.filter((n) => n.live).map((n) => n.id));
      const lagging: (LaggingGateway & { final: boolean })[] = [];
      for (const n of nodes) {
        if (!n.live && !liveAtStart.has(n.id)) continue;
        const failure = n.failing.find((f) => f.functionId === functionId);
        const at = { id: n.id, url: n.url, servedRevision: n.servedRevision };
        if (n.servedRevision >= revision && !failure) continue;
        if (!n.live) lagging.push({ ...at, reason: `its heartbeat stopped (last seen ${n.lastSeen.toISOString()})`, final: true });
        else if (n.servedRevision >= revision && failure) lagging.push({ ...at, reason: `could not serve it: ${failure.error}`, final: true });
        else lagging.push({ ...at, reason: `serves route revision ${n.servedRevision}, not yet ${revision}`, final: false });
      }
      if (lagging.every((l) => l.final) || Date.now() >= deadline) return lagging.map(({ final: _final, ...rest }) => rest);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, pollMs);
    }
  }

  return {
    nodeId: node.id,
    bootedAt,
    get conflict() {
      return conflict;
    },
    reconcile,
    warm(deploymentId, alias) {
      void publisher
        .publish(warmChannel, JSON.stringify({ deploymentId, alias, from: node.id, engine: node.engine ?? null } satisfies WarmHint))
        .catch((error: Error) => log.warn({ err: { message: error.message } }, "could not hint the other gateways to warm a deployment"));
    },
    async announce(functionId, revision) {
      // Without Redis the hint is lost; the others still catch up on their timer.
      await publisher.publish(channel, JSON.stringify({ functionId, revision, from: node.id } satisfies Hint)).catch((error: Error) => log.warn({ err: { message: error.message } }, "could not hint the other gateways of a route change"));
      await reconcile();
      const lagging = await waitForNodes(functionId, revision);
      const unconfirmed = lagging.map((l) => `${l.id} at ${l.url}: ${l.reason}`);
      if (lagging.length) log.warn({ functionId, revision, lagging }, "gateways did not confirm a route change (see their logs)");
      return { unconfirmed, lagging };
    },
    async close() {
      closed = true;
      for (const timer of timers) clearInterval(timer);
      subscriber.off("ready", onReady);
      // Gone on purpose: no switch waits for this node or names it. A pass under way reports nothing more.
      await removeGatewayNode(db, { id: node.id, bootedAt }).catch(() => {});
    },
  };
}
