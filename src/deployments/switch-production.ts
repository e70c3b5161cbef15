// Owns rollback and promote, which are the same act with different intent: point
// production at an existing ready deployment (no rebuild) through the gateway, which
// warm-starts it if needed and switches only once it is healthy. A rollback pins
// production so pushes stop going live; a promote unpins it.
import type { Logger } from "pino";
import { deploymentLogger } from "../logging/deployment-logger.js";
import type { Config } from "../config/load-config.js";
import { requestActivation } from "../gateway/request-activation.js";
import { functionUrl } from "../gateway/route-key.js";
import type { Queryable } from "../store/create-database.js";
import type { AuditVia } from "../store/audit-log.js";
import { DeploymentActionError } from "./deployment-action-error.js";
import { loadFunctionState, type FunctionState } from "./load-function-state.js";
import { resolvePromoteTarget, resolveRollbackTarget, type DeploymentSummary } from "./resolve-deployment-target.js";

export type SwitchResult = {
  functionName: string;
  fromVersion: number | null;
  toVersion: number;
  deploymentId: string;
  /** What production served before, as the gateway switched it. */
  previousDeploymentId: string | null;
  pinned: boolean;
  url: string;
  durationMs: number;
  /** Gateways that did not confirm they serve the switch (see src/gateway/route-sync.ts); normally none. */
  unconfirmedGateways: string[];
};

type SwitchRequest = { functionId: string; action: "rollback" | "promote"; target?: string };

/** Which deployment a rollback or promote means, without changing anything. */
export async function resolveSwitchTarget(db: Queryable, request: SwitchRequest): Promise<{ state: FunctionState; deployment: DeploymentSummary }> {
  const state = await loadFunctionState(db, request.functionId);
  let target = request.target;
  const previewAlias = target ? /^pr-\d+$/i.exec(target) : null;
  if (previewAlias) {
    const alias = await db.query<{ deployment_id: string }>("select deployment_id from aliases where function_id = $1 and name = $2", [state.id, target!.toLowerCase()]);
    if (alias.rowCount === 0) throw new DeploymentActionError(`${target} has no preview deployment of ${state.name}`);
    target = alias.rows[0]!.deployment_id;
  }
  const resolve = request.action === "rollback" ? resolveRollbackTarget : resolvePromoteTarget;
  const resolution = resolve(state.deployments, state.production, target);
  if (!resolution.ok) throw new DeploymentActionError(resolution.reason);
  return { state, deployment: resolution.deployment };
}

// Someone is waiting for the answer (a comment, a button, the CLI): a gateway restart is
// waited out, but not for as long as a build's activation would be.
const interactiveRetryMs = 20_000;

export async function switchProduction(
  deps: { config: Config; db: Queryable; log: Logger },
  request: SwitchRequest & { actor: string; via: AuditVia },
): Promise<SwitchResult> {
  const started = performance.now();
  const { state, deployment } = await resolveSwitchTarget(deps.db, request);
  const pinned = request.action === "rollback";
  const activation = await requestActivation(deps.config.SLIPWAY_GATEWAY_URL, deps.config.SLIPWAY_GATEWAY_SECRET, {
    deploymentId: deployment.id,
    alias: "production",
    pin: pinned,
    action: request.action,
    actor: request.actor,
    via: request.via,
  }, { retryForMs: interactiveRetryMs });
  if (!activation.activated) throw new DeploymentActionError(activation.reason ?? "the gateway did not switch");
  deploymentLogger(deps.log, { deploymentId: deployment.id, functionName: state.name, version: deployment.version, owner: state.owner, repo: state.repo }).info(
    { action: request.action, actor: request.actor, via: request.via, fromVersion: state.production ? `v${state.production.version}` : null, pinned },
    request.action === "rollback" ? "production rolled back" : "production promoted",
  );
  return {
    functionName: state.name,
    fromVersion: state.production?.version ?? null,
    toVersion: deployment.version,
    deploymentId: deployment.id,
    previousDeploymentId: activation.previousDeploymentId,
    pinned,
    url: functionUrl(deps.config.publicUrl, state.slug),
    durationMs: performance.now() - started,
    unconfirmedGateways: activation.unconfirmedGateways ?? [],
  };
}
