// Owns the local-directory artifact store (SLIPWAY_ARTIFACT_DIR), the default: blobs under
// sha256/<2>/<hex>.tar.gz, each written to tmp/ first and renamed into place, so a blob is
// either whole or absent. Several machines can share it only through a shared filesystem;
// s3-artifact-store.ts is the store for that.
import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { access, constants, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ArtifactStoreError, digestHex, measureArtifact, type ArtifactStore } from "./artifact-store.js";

// Kept for the modules that imported the type from here before the S3 store existed.
export type { ArtifactStore, StoredArtifact } from "./artifact-store.js";
export { ArtifactTooLargeError } from "./artifact-store.js";

export function createLocalArtifactStore(directory: string): ArtifactStore {
  const root = resolve(directory);
  const temporaryDir = join(root, "tmp");
  const pathOf = (digest: string) => {
    const hex = digestHex(digest);
    return join(root, "sha256", hex.slice(0, 2), `${hex}.tar.gz`);
  };

  return {
    location: root,
    async put(content: Readable, maxBytes: number) {
      await mkdir(temporaryDir, { recursive: true });
      const temporary = join(temporaryDir, randomUUID());
      const measure = measureArtifact(maxBytes);
      try {
        await pipeline(content, measure.stream, createWriteStream(temporary));
        const stored = measure.result();
        const finalPath = pathOf(stored.digest);
        await mkdir(dirname(finalPath), { recursive: true });
        // Same content, same name: a rename over an existing blob changes nothing.
        await rename(temporary, finalPath);
        return stored;
      } finally {
        await rm(temporary, { force: true });
      }
    },
    open(digest) {
      return createReadStream(pathOf(digest));
    },
    async remove(digest) {
      await rm(pathOf(digest), { force: true });
    },
    async age(digest) {
      try {
        return Date.now() - (await stat(pathOf(digest))).mtimeMs;
      } catch {
        return null;
      }
    },
    async has(digest) {
      try {
        return (await stat(pathOf(digest))).isFile();
      } catch {
        return false;
      }
    },
    async check() {
      try {
        await mkdir(temporaryDir, { recursive: true });
        await access(temporaryDir, constants.W_OK);
      } catch (error) {
        const code = (error as { code?: string }).code ?? "an error";
        throw new ArtifactStoreError(`the artifact directory ${root} cannot be written (${code}); fix SLIPWAY_ARTIFACT_DIR or its permissions`, "refused");
      }
    },
    async sweepTemporary(olderThanMs) {
      let removed = 0;
      for (const name of await readdir(temporaryDir).catch(() => [] as string[])) {
        const path = join(temporaryDir, name);
        const modified = await stat(path).then((s) => s.mtimeMs, () => null);
        if (modified === null || Date.now() - modified < olderThanMs) continue;
        await rm(path, { force: true });
        removed++;
      }
      return removed;
    },
  };
}
