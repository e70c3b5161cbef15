// Owns cancelling a build, queued or running: the state machine moves it to `cancelled`
// (so its worker can no longer mark it ready) and records, in the same statement, that
// GitHub should hear of it (the check run ends `cancelled`, linking the newer build when one
// superseded it; GitHub Deployments and the PR comment say so: see report-deployment.ts);
// the audit log records who and why. The worker running it notices within a second and
// kills its build container (labelled slipway.deployment=<id>).
import { deploymentLogger } from "../logging/deployment-logger.js";
import type { Logger } from "pino";
import type { Config } from "../config/load-config.js";
import { recordAudit, type AuditVia } from "../store/audit-log.js";
import type { Database } from "../store/create-database.js";
import { getBuildContext } from "../store/deployments.js";
import { DeploymentActionError } from "./deployment-action-error.js";
import { transitionDeployment } from "./deployment-state.js";

export type CancelDependencies = { config: Config; db: Database; log: Logger };

export type CancelRequest = {
  deploymentId: string;
  actor: string;
  via: AuditVia;
  /** Why, in words that finish "vN was cancelled: …". */
  reason: string;
  supersededBy?: string;
};

export type CancelResult = { cancelled: boolean; functionName: string; version: number; status: string };

export async function cancelDeployment(deps: CancelDependencies, request: CancelRequest): Promise<CancelResult> {
  const deployment = await getBuildContext(deps.db, request.deploymentId);
  if (!deployment) throw new DeploymentActionError(`there is no deployment ${request.deploymentId}`);
  const changed = await transitionDeployment(deps.db, request.deploymentId, "cancelled", {
    fields: { error: `cancelled: ${request.reason}`, build_finished_at: new Date() },
    report: { kind: "deployment", deploymentId: request.deploymentId, phase: "cancelled", reason: request.reason, supersededBy: request.supersededBy ?? null },
  });
  if (!changed) {
    const now = await getBuildContext(deps.db, request.deploymentId);
    return { cancelled: false, functionName: deployment.functionName, version: deployment.version, status: now?.status ?? deployment.status };
  }
  if (request.supersededBy) await deps.db.query("update deployments set superseded_by = $2 where id = $1", [request.deploymentId, request.supersededBy]);
  await recordAudit(deps.db, {
    functionId: deployment.functionId,
    action: "cancel",
    actor: request.actor,
    via: request.via,
    fromDeploymentId: request.deploymentId,
    toDeploymentId: request.supersededBy ?? null,
    detail: { reason: request.reason, version: deployment.version, commitSha: deployment.commitSha },
  });
  deploymentLogger(deps.log, { ...deployment, deploymentId: request.deploymentId }).info({ reason: request.reason, actor: request.actor, via: request.via }, "build cancelled");

  return { cancelled: true, functionName: deployment.functionName, version: deployment.version, status: "cancelled" };
}
