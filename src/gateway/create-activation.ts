// Owns activation: switching an alias to a deployment once its runtime is started and
// healthy (the route table starts it), removing a pull request's preview alias with the
// containers only it needed, and prewarming a deployment ahead of an expected activation.
// A switch is done once every live gateway node serves its revision (route-sync.ts).
//
// Placement: an activation is carried out by a node that runs the alias's route
// (create-route-table.ts). Any other node forwards it there, so the container starts and is
// health-checked once, where it will run, and the switch follows only once it is healthy;
// the other nodes "serve" the revision by forwarding calls to it. Should that node not
// answer, the activation is carried out here instead (the route moves on the next reconcile).
import type { Logger } from "pino";
import { request } from "undici";
import { z } from "zod";
import { deploymentLogger } from "../logging/deployment-logger.js";
import type { Config } from "../config/load-config.js";
import { getAlias, removeAlias, switchAlias } from "../store/aliases.js";
import { recordAudit } from "../store/audit-log.js";
import type { Database } from "../store/create-database.js";
import { getDeploymentSettings, type DeploymentSettings } from "../store/deployment-settings.js";
import { getBuildContext, type BuildContext } from "../store/deployments.js";
import { currentRouteRevision } from "../store/gateway-nodes.js";
import type { GatewayPeer, RouteTable } from "./create-route-table.js";
import { HttpError } from "./http-error.js";
import { routeKey } from "./route-key.js";
import type { RouteSync } from "./route-sync.js";
import type { RuntimeEngine } from "./runtime-engine.js";

/** Marks an activation forwarded by another node (which holds the gateway secret too): carried out here, never forwarded again. */
export const placedActivationHeader = "x-slipway-placed";

export const prewarmBody = z.object({ deploymentId: z.uuid() });

export const activationBody = z.object({
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
export type ActivationInput = z.infer<typeof activationBody>;

// A closed pull request: the alias goes, and so do the containers only it needed.
export const aliasRemovalBody = z.object({ functionId: z.uuid(), alias: z.string().regex(/^pr-\d+$/) });

export function createActivation(deps: {
  config: Config;
  db: Database;
  engine: RuntimeEngine;
  table: RouteTable;
  log: Logger;
  /** Registers, replaces or removes the function's schedule when production switches. */
  applySchedule(functionId: string, schedule: DeploymentSettings["schedule"]): Promise<void>;
  routeSync(): RouteSync;
}) {
  const { db, engine, table, log } = deps;

  // Starts a container ahead of an expected activation; if none comes, it retires as usual.
  function prewarm(deploymentId: string): void {
    if (table.isStarted(deploymentId)) return;
    table.ensureRuntime(deploymentId).then(
      () => {
        if (!table.isRouted(deploymentId)) table.retireAfterGrace(deploymentId);
      },
      (error: Error) => log.warn({ deploymentId, err: { message: error.message } }, "could not prewarm a deployment"),
    );
  }

  /**
   * Another node's activation (or prewarm) is starting the deployment for `alias`: this node
   * starts it too if placement puts the route here, so it serves the switch at once.
   */
  async function prewarmIfPlaced(deploymentId: string, alias: string): Promise<void> {
    const deployment = await getBuildContext(db, deploymentId);
    if (!deployment || deployment.status !== "ready") return;
    const nodes = table.placementOf(routeKey(deployment.slug, alias), alias === "production" ? "production" : "preview");
    if (nodes.some((node) => node.id === table.node.id)) prewarm(deploymentId);
  }

  // Answers and errors of activations another node carried out (and counted in its metrics).
  const handedOver = new WeakSet<object>();

  /** Asks the node that runs the route to activate; null when it did not answer (then this node does). */
  async function activateOn(node: GatewayPeer, input: ActivationInput): Promise<Record<string, unknown> | null> {
    try {
      const response = await request(`${node.url}/v1/activations`, {
        method: "POST",
        headers: { authorization: `Bearer ${deps.config.SLIPWAY_GATEWAY_SECRET}`, "content-type": "application/json", [placedActivationHeader]: table.node.id },
        body: JSON.stringify(input),
        // A cold start, then the wait for every node to serve the switch.
        headersTimeout: (deps.config.SLIPWAY_HEALTH_TIMEOUT_SECONDS + deps.config.SLIPWAY_ROUTE_CONFIRM_SECONDS + 30) * 1000,
      });
      const answer = (await response.body.json().catch(() => ({}))) as Record<string, unknown>;
      if (response.statusCode !== 200) {
        const refused = new HttpError(response.statusCode, typeof answer.error === "string" ? answer.error : `gateway node ${node.id} answered ${response.statusCode}`);
        handedOver.add(refused);
        throw refused;
      }
      handedOver.add(answer);
      return answer;
    } catch (error) {
      if (error instanceof HttpError) throw error;
      log.warn({ node: node.id, url: node.url, err: { message: (error as Error).message } }, "the gateway node that runs this route did not take the activation; activating here");
      return null;
    }
  }

  async function activate(input: ActivationInput, options: { placed: boolean } = { placed: false }) {
    const started = performance.now();
    const deployment = await getBuildContext(db, input.deploymentId);
    if (!deployment) throw new HttpError(404, `no deployment ${input.deploymentId}`);
    if (!options.placed) {
      await table.refreshMembership();
      const nodes = table.placementOf(routeKey(deployment.slug, input.alias), input.alias === "production" ? "production" : "preview");
      if (!nodes.some((node) => node.id === table.node.id)) {
        const answer = await activateOn(nodes[0]!, input);
        if (answer) return answer as Awaited<ReturnType<typeof activateHere>>;
      }
    }
    return activateHere(input, deployment, started);
  }

  async function activateHere(input: ActivationInput, deployment: BuildContext, started: number) {
    const result = await table.withFunctionLock(deployment.functionId, async () => {
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
      // The other nodes placed on the route start theirs meanwhile.
      deps.routeSync().warm(deployment.deploymentId, input.alias);
      const runtime = await table.ensureRuntime(deployment.deploymentId, deployment).catch((error: unknown) => {
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
        if (!table.isRouted(deployment.deploymentId)) table.retireAfterGrace(deployment.deploymentId);
        return { activated: false, reason: switched.reason, previousDeploymentId: switched.current?.deploymentId ?? null, durationMs: performance.now() - started };
      }
      const previousDeploymentId = switched.previousDeploymentId;
      const settings = await getDeploymentSettings(db, deployment.deploymentId);
      // Served from the next request on, by nginx too.
      await table.setRoute(routeKey(deployment.slug, input.alias), { deploymentId: deployment.deploymentId, functionId: deployment.functionId, alias: input.alias, runtime, settings });
      // The schedule follows what production serves: registered, replaced or removed here.
      if (input.alias === "production") await deps.applySchedule(deployment.functionId, settings.schedule);
      if (previousDeploymentId && previousDeploymentId !== deployment.deploymentId) table.retireAfterGrace(previousDeploymentId);
      return { activated: true, previousDeploymentId, revision: switched.revision, durationMs: performance.now() - started };
    });
    if (!result.activated || result.revision === undefined) return result;
    // Outside the lock: done once every live gateway node serves the switch's revision
    // (read-your-writes), or after SLIPWAY_ROUTE_CONFIRM_SECONDS naming the nodes that lag.
    const { unconfirmed, lagging } = await deps.routeSync().announce(deployment.functionId, result.revision);
    deploymentLogger(log, deployment).info(
      { alias: input.alias, previousDeploymentId: result.previousDeploymentId, revision: result.revision, ...(input.action ? { action: input.action, actor: input.actor, via: input.via } : {}), unconfirmed },
      "activated",
    );
    const { revision: _revision, ...answer } = result;
    return { ...answer, durationMs: performance.now() - started, ...(unconfirmed.length ? { unconfirmedGateways: unconfirmed, laggingGateways: lagging } : {}) };
  }

  async function removePreviewAlias(input: z.infer<typeof aliasRemovalBody>): Promise<{ removed: boolean; stopped: number }> {
    const result = await table.withFunctionLock(input.functionId, async () => {
      const previous = await removeAlias(db, input.functionId, input.alias);
      for (const [key, route] of table.routes) if (route.functionId === input.functionId && route.alias === input.alias) table.deleteRoute(key);
      const built = await db.query<{ id: string }>(
        "select d.id from deployments d join deployment_targets t on t.deployment_id = d.id where d.function_id = $1 and t.alias = $2",
        [input.functionId, input.alias],
      );
      let stopped = 0;
      for (const { id } of built.rows) {
        if (table.isRouted(id)) continue;
        table.forgetRuntime(id);
        await engine.stop(id);
        stopped++;
      }
      log.info({ functionId: input.functionId, alias: input.alias, previous, stopped }, "alias removed");
      return { removed: previous !== null, stopped, revision: await currentRouteRevision(db) };
    });
    await deps.routeSync().announce(input.functionId, result.revision);
    return { removed: result.removed, stopped: result.stopped };
  }

  return {
    activate,
    removePreviewAlias,
    prewarm,
    prewarmIfPlaced,
    /** Whether an activation's answer (or error) came from the node it was handed to, which counted it. */
    carriedOutElsewhere: (outcome: unknown) => typeof outcome === "object" && outcome !== null && handedOver.has(outcome),
  };
}
