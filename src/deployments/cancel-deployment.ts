// Owns cancelling a build, queued or running: the state machine moves it to `cancelled`
// (so its worker can no longer mark it ready), the audit log records who and why, the
// check run ends `cancelled` (linking the newer build when one superseded it), and GitHub
// Deployments and the PR comment say so. The worker running it notices within a second
// and kills its build container (labelled slipway.deployment=<id>).
import type { Logger } from "pino";
import type { Config } from "../config/load-config.js";
import { completeCheckRun } from "../github/check-runs.js";
import type { InstallationClients } from "../github/create-installation-client.js";
import { cancelledOutput } from "../github/render-check-run.js";
import { reportDeploymentTargets } from "../github/report-deployment-targets.js";
import { recordAudit, type AuditVia } from "../store/audit-log.js";
import type { Database } from "../store/create-database.js";
import { getBuildContext } from "../store/deployments.js";
import { DeploymentActionError } from "./deployment-action-error.js";
import { transitionDeployment } from "./deployment-state.js";

export type CancelDependencies = { config: Config; db: Database; github: InstallationClients; log: Logger };

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
  deps.log.info({ deploymentId: request.deploymentId, reason: request.reason, actor: request.actor }, "build cancelled");

  let newer: { version: number; url: string } | undefined;
  if (request.supersededBy) {
    const newerBuild = await getBuildContext(deps.db, request.supersededBy);
    if (newerBuild) newer = { version: newerBuild.version, url: `${deps.config.appUrl}/v1/deployments/${newerBuild.deploymentId}` };
  }
  if (deployment.checkRunId !== null) {
    const octokit = deps.github.forInstallation(deployment.installationId);
    await completeCheckRun(
      octokit,
      { owner: deployment.owner, repo: deployment.repo, checkRunId: deployment.checkRunId, ...(newer ? { detailsUrl: newer.url } : {}) },
      "cancelled",
      cancelledOutput({ version: deployment.version, reason: request.reason, newer }),
    ).catch((error: Error) => deps.log.warn({ err: { message: error.message } }, "could not complete the cancelled check run"));
  }
  await reportDeploymentTargets(deps, deployment, "inactive", `cancelled: ${request.reason}`);
  return { cancelled: true, functionName: deployment.functionName, version: deployment.version, status: "cancelled" };
}
