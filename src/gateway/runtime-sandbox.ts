// Owns how a runtime container is locked down, beyond its memory, CPU and network: no
// capability it does not need, no-new-privileges, a pids limit and, for a runtime whose
// image is made for it (Slipway's own, see runtimes/*/Dockerfile), a non-root user and a
// read-only root filesystem.
//
// With a read-only root, what the open-runtimes start contract writes gets a place of its
// own: the artifact folder, the per-execution log folder and the function folder are
// volumes of the container (Docker copies files into and out of volumes, never into a
// tmpfs: the artifact goes in, and the logs come out, through the archive API), and /tmp
// and /mnt/telemetry are size-capped tmpfs mounts, counted against the container's memory.
// The volumes are anonymous: they go when the container is removed with `v: true`.

export type RuntimeSandbox = {
  /** uid:gid the function runs as; root when unset. */
  user?: string | undefined;
  readOnlyRootfs?: boolean | undefined;
};

export const artifactFolder = "/mnt/code";
const writableVolumes = [artifactFolder, "/mnt/logs", "/usr/local/server/src/function"];

export function runtimeSandbox(sandbox: RuntimeSandbox, memoryMb: number) {
  const [uid, gid] = (sandbox.user ?? "0").split(":");
  const asRoot = uid === "0";
  const owner = `uid=${uid},gid=${gid ?? uid}`;
  return {
    ...(sandbox.user ? { User: sandbox.user } : {}),
    HostConfig: {
      PidsLimit: 256,
      SecurityOpt: ["no-new-privileges"],
      CapDrop: ["ALL"],
      // As root, only what unpacking the artifact needs (tar restores owners and modes);
      // as its own user the function owns what it writes and needs none. Never raw sockets,
      // device nodes, chroot or signals to other users' processes.
      CapAdd: asRoot ? ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"] : [],
      ...(sandbox.readOnlyRootfs
        ? {
            ReadonlyRootfs: true,
            // No source: an anonymous volume, filled from the image's folder when first started.
            Mounts: writableVolumes.map((target) => ({ Type: "volume" as const, Source: "", Target: target })),
            Tmpfs: {
              "/tmp": `rw,nosuid,nodev,size=${Math.max(16, Math.floor(memoryMb / 4))}m,mode=1777`,
              "/mnt/telemetry": `rw,nosuid,nodev,noexec,size=1m,mode=0755,${owner}`,
            },
          }
        : {}),
    },
  };
}
