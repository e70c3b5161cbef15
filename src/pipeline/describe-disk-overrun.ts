// Owns the words a build that wrote too much is failed with: the limit by name, and what to do.
import type { DiskOverrun } from "./watch-build-disk.js";

export function describeDiskOverrun(overrun: DiskOverrun): string {
  return (
    `the build wrote more than SLIPWAY_BUILD_DISK_MB (${overrun.limitMb} MB) to disk` +
    (overrun.usedMb > overrun.limitMb ? ` (${overrun.usedMb} MB when it was stopped)` : "") +
    "; the function's files, everything the build writes in its container and its build cache count. " +
    "Write less during the build (large downloads, generated files, temporary files left behind), " +
    "or ask the operator of this Slipway to raise SLIPWAY_BUILD_DISK_MB"
  );
}
