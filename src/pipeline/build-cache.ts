// Owns build caches: one Docker volume per function and runtime, so one function's npm,
// pip and cargo caches are never visible to another function or repository. A volume (not
// a host directory) keeps this working against a remote Docker Engine.
import type Docker from "dockerode";

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
