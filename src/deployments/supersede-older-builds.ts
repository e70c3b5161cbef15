// Owns the rule that a newer commit wins: older builds of the same function for the same
// alias, still queued or building, stop being built for that alias, and a build left with
// no alias at all is cancelled, with a link to the newer one.
import type { AuditVia } from "../store/audit-log.js";
import { dropDeploymentTarget, findOlderBuildsForAlias } from "../store/deployment-targets.js";
import { cancelDeployment, type CancelDependencies } from "./cancel-deployment.js";

export async function supersedeOlderBuilds(
  deps: CancelDependencies,
  newer: { deploymentId: string; functionId: string; version: number; commitSha: string; alias: string; via: AuditVia },
): Promise<string[]> {
  const cancelled: string[] = [];
  for (const older of await findOlderBuildsForAlias(deps.db, newer.functionId, newer.alias, newer.version)) {
    const aliasesLeft = await dropDeploymentTarget(deps.db, older.id, newer.alias);
    if (aliasesLeft > 0) continue; // still needed for another alias (say, production)
    const result = await cancelDeployment(deps, {
      deploymentId: older.id,
      actor: "slipway",
      via: newer.via,
      reason: `superseded by v${newer.version} (\`${newer.commitSha.slice(0, 7)}\`) for ${newer.alias}`,
      supersededBy: newer.deploymentId,
    });
    if (result.cancelled) cancelled.push(older.id);
  }
  return cancelled;
}
