// Owns what GitHub's production environment says after a rollback or promote: the version now
// serving gets a GitHub Deployment status `success` (a Deployment is made for it if it was
// built for a pull request and never served production before), and the version it replaced
// is marked `inactive`. Uploads (`slipway deploy`) have no commit on GitHub and are left out.
// Best effort, after the switch: a failure is logged and never undoes the switch.
import type { SwitchResult } from "../deployments/switch-production.js";
import { getBuildContext } from "../store/deployments.js";
import { addDeploymentTarget, markTargetActivated } from "../store/deployment-targets.js";
import { reportDeploymentTargets, type ReportDependencies } from "./report-deployment-targets.js";

export async function reportProductionSwitch(deps: ReportDependencies, switched: { from: string | null; to: string; description: string }): Promise<void> {
  const now = await getBuildContext(deps.db, switched.to);
  if (now && now.sourceDigest === null) {
    // Served in production from now on, so production is one of the build's targets, activated.
    await addDeploymentTarget(deps.db, now.deploymentId, "production", null);
    await markTargetActivated(deps.db, now.deploymentId, "production");
    await reportDeploymentTargets(deps, now, (alias) => (alias === "production" ? "success" : null), switched.description);
  }
  if (switched.from && switched.from !== switched.to) {
    const replaced = await getBuildContext(deps.db, switched.from);
    if (replaced && replaced.sourceDigest === null) {
      await reportDeploymentTargets(deps, replaced, (alias) => (alias === "production" ? "inactive" : null), switched.description);
    }
  }
}

export function switchedOf(result: SwitchResult, action: "rollback" | "promote", actor: string): { from: string | null; to: string; description: string } {
  return { from: result.previousDeploymentId, to: result.deploymentId, description: `${action === "rollback" ? "rolled back" : "promoted"} to v${result.toVersion} by ${actor}` };
}

/** Starts the report and logs its failure; the caller's answer does not wait for GitHub. */
export function reportProductionSwitchLater(deps: ReportDependencies, switched: { from: string | null; to: string; description: string }): void {
  reportProductionSwitch(deps, switched).catch((error: Error) =>
    deps.log.warn({ err: { message: error.message }, deploymentId: switched.to }, "could not report a production switch to GitHub"),
  );
}
