// Owns the question whether this Docker Engine enforces a per-container disk size
// (`HostConfig.StorageOpt.size`), and how. Only some storage drivers do: overlay2 on XFS
// mounted with `pquota` counts the container's own writes; btrfs counts the image's files
// too (a size under the image's fails the container's creation). Elsewhere (overlay2 on ext4,
// the common case) creating such a container fails, so the answer is found by creating one,
// once per engine.
import type Docker from "dockerode";

export type StorageLimit = { driver: string; countsImage: boolean };

const answers = new WeakMap<Docker, Promise<StorageLimit | null>>();

// What an engine says when its storage driver cannot limit a container's size.
const unsupported = /storage-?opt|storage option|quota|not supported|xfs|pquota|size option/i;

/** How build containers of `image` can get a hard disk limit from the engine; null: they cannot. */
export function probeStorageLimit(docker: Docker, image: string): Promise<StorageLimit | null> {
  const known = answers.get(docker);
  if (known) return known;
  const probe = (async () => {
    try {
      const container = await docker.createContainer({
        Image: image,
        Cmd: ["true"],
        Labels: { "slipway.role": "storage-probe" },
        // Large, so that a driver that counts the image's files too does not refuse it for that.
        HostConfig: { StorageOpt: { size: "1T" }, NetworkMode: "none" },
      });
      await container.remove({ force: true }).catch(() => {});
      const { Driver: driver } = (await docker.info()) as { Driver: string };
      return { driver, countsImage: driver === "btrfs" };
    } catch (error) {
      // Any other failure (a missing image, say) says nothing about the engine: ask again next time.
      if (!unsupported.test((error as Error).message)) answers.delete(docker);
      return null;
    }
  })();
  answers.set(docker, probe);
  return probe;
}
