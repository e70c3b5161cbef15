// Owns build caches: one Docker volume per function and runtime, so one function's npm,
// pip and cargo caches are never visible to another function or repository. A volume (not
// a host directory) keeps this working against a remote Docker Engine.
import type Docker from "dockerode";
import type { Queryable } from "../store/create-database.js";

export function cacheVolumeName(functionId: string, runtime: string): string {
  return `slipway-cache-${functionId}-${runtime.replace(/[^a-z0-9.-]/g, "-")}`;
}

export async function ensureCacheVolume(docker: Docker, functionId: string, runtime: string): Promise<string> {
  const name = cacheVolumeName(functionId, runtime);
  // Creating a volume that exists returns the existing one.
  await docker.createVolume({ Name: name, Labels: { "slipway.function": functionId, "slipway.runtime": runtime, "slipway.role": "build-cache" } });
  return name;
}

export async function resetCacheVolume(docker: Docker, functionId: string, runtime: string): Promise<string> {
  await docker.getVolume(cacheVolumeName(functionId, runtime)).remove({ force: true }).catch(() => {});
  return ensureCacheVolume(docker, functionId, runtime);
}

/**
 * Removes the caches of functions that have not built with that runtime for `ttlDays`. A
 * volume no deployment here names is left alone: Slipway never deletes a function, so it
 * belongs to another installation on the same engine. A volume a build is using right now
 * cannot be removed; the next pass tries again. Returns the names removed.
 */
export async function pruneCacheVolumes(docker: Docker, db: Queryable, ttlDays: number): Promise<string[]> {
  if (ttlDays <= 0) return [];
  const { Volumes: volumes } = await docker.listVolumes({ filters: { label: ["slipway.role=build-cache"] } });
  const lastBuilds = await db.query<{ function_id: string; runtime: string }>(
    `select function_id, runtime from deployments group by function_id, runtime
      having max(created_at) < now() - make_interval(days => $1)`,
    [ttlDays],
  );
  const stale = new Set(lastBuilds.rows.map((r) => cacheVolumeName(r.function_id, r.runtime)));
  const removed: string[] = [];
  for (const volume of volumes ?? []) {
    if (!stale.has(volume.Name)) continue;
    try {
      await docker.getVolume(volume.Name).remove();
      removed.push(volume.Name);
    } catch {
      // In use by a build.
    }
  }
  return removed;
}

// Failures that say the cache, not the user's code, is broken.
const corruptionSignatures = [
  /EINTEGRITY/,
  /npm ERR! .*(?:cache|tarball).*(?:corrupt|invalid)/i,
  /error: failed to (?:parse|read|load) .*(?:\.fingerprint|\.rmeta|\.rlib|dep-info)/i,
  /found possibly newer version of crate/i,
  /can't find crate for .* which .* depends on/i,
  /(?:incorrect|invalid) metadata .*(?:\.rmeta|\.rlib)/i,
  /pip\._vendor\.cachecontrol.*(?:Error|corrupt)/i,
];

export function looksLikeCorruptCache(buildOutput: string): boolean {
  return corruptionSignatures.some((pattern) => pattern.test(buildOutput));
}
