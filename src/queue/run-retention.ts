// Owns one pass of the retention policy on the maintenance queue: old builds are pruned
// (src/deployments/prune-deployments.ts) and build caches of functions that stopped building
// are removed (src/pipeline/build-cache.ts).
import { pruneDeployments, type PruneResult } from "../deployments/prune-deployments.js";
import { pruneCacheVolumes } from "../pipeline/build-cache.js";
import type { BuildDependencies } from "../pipeline/process-build.js";

/** Long enough for any rollback that read a deployment before it was marked to have started it. */
export const pruneGraceSeconds = 15 * 60;

export async function runRetention(deps: BuildDependencies): Promise<PruneResult & { removedCaches: string[] }> {
  const pruned = await pruneDeployments(deps, { keep: deps.config.SLIPWAY_KEEP_DEPLOYMENTS, graceSeconds: pruneGraceSeconds });
  const removedCaches = await pruneCacheVolumes(deps.docker, deps.db, deps.config.SLIPWAY_BUILD_CACHE_TTL_DAYS);
  if (removedCaches.length > 0) deps.log.info({ removedCaches }, "retention: unused build caches removed");
  return { ...pruned, removedCaches };
}
