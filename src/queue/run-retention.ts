// Owns one pass of the retention policy on the maintenance queue: old builds are pruned
// (src/deployments/prune-deployments.ts), build caches of functions that stopped building
// are removed (src/pipeline/build-cache.ts), and webhook deliveries finished long ago are
// forgotten with their payloads. What artifact puts that never finished left behind (a killed
// process, an aborted multipart upload) goes after a day.
import { pruneDeployments, type PruneResult } from "../deployments/prune-deployments.js";
import { pruneCacheVolumes } from "../pipeline/build-cache.js";
import type { BuildDependencies } from "../pipeline/process-build.js";
import { forgetOldReports } from "../store/github-reports.js";
import { forgetOldDeliveries } from "../store/webhook-deliveries.js";

/** Long enough for any rollback that read a deployment before it was marked to have started it. */
export const pruneGraceSeconds = 15 * 60;
const keepDeliveriesDays = 14;
const unfinishedPutHours = 24;

export async function runRetention(deps: BuildDependencies): Promise<PruneResult & { removedCaches: string[]; forgottenDeliveries: number }> {
  const pruned = await pruneDeployments(deps, { keep: deps.config.SLIPWAY_KEEP_DEPLOYMENTS, graceSeconds: pruneGraceSeconds });
  const removedCaches = await pruneCacheVolumes(deps.docker, deps.db, deps.config.SLIPWAY_BUILD_CACHE_TTL_DAYS);
  if (removedCaches.length > 0) deps.log.info({ removedCaches }, "retention: unused build caches removed");
  const sweptTemporary = await deps.artifacts.sweepTemporary(unfinishedPutHours * 3600 * 1000);
  if (sweptTemporary > 0) deps.log.info({ sweptTemporary, store: deps.artifacts.location }, "retention: unfinished artifact writes removed");
  const forgottenDeliveries = await forgetOldDeliveries(deps.db, keepDeliveriesDays);
  await forgetOldReports(deps.db, keepDeliveriesDays);
  return { ...pruned, removedCaches, forgottenDeliveries };
}
