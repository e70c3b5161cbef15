// Owns build artifacts: immutable blobs addressed by their sha256. This implementation
// keeps them in a local directory; the ArtifactStore type is what an S3-compatible store
// would implement too.
import { createHash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { access, mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export type StoredArtifact = { digest: string; size: number };

export type ArtifactStore = {
  put(content: Readable, maxBytes: number): Promise<StoredArtifact>;
  open(digest: string): Readable;
  has(digest: string): Promise<boolean>;
  /** Deletes a blob nothing refers to (a refused upload, a pruned build); the caller checks that. */
  remove(digest: string): Promise<void>;
  /** Milliseconds since the blob was last written (a put of the same content writes it again), or null when there is none. */
  age(digest: string): Promise<number | null>;
};

export class ArtifactTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`the build output is larger than the ${Math.round(maxBytes / 1024 / 1024)} MB limit`);
    this.name = "ArtifactTooLargeError";
  }
}

const digestPattern = /^sha256:[0-9a-f]{64}$/;

export function createLocalArtifactStore(directory: string): ArtifactStore {
  const root = resolve(directory);
  const pathOf = (digest: string) => {
    if (!digestPattern.test(digest)) throw new Error(`not an artifact digest: ${digest}`);
    const hex = digest.slice("sha256:".length);
    return join(root, "sha256", hex.slice(0, 2), `${hex}.tar.gz`);
  };

  return {
    async put(content, maxBytes) {
      await mkdir(join(root, "tmp"), { recursive: true });
      const temporary = join(root, "tmp", randomUUID());
      const hash = createHash("sha256");
      let size = 0;
      const measure = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          size += chunk.length;
          if (size > maxBytes) return done(new ArtifactTooLargeError(maxBytes));
          hash.update(chunk);
          done(null, chunk);
        },
      });
      try {
        await pipeline(content, measure, createWriteStream(temporary));
        const digest = `sha256:${hash.digest("hex")}`;
        const finalPath = pathOf(digest);
        await mkdir(dirname(finalPath), { recursive: true });
        // Same content, same name: a rename over an existing blob changes nothing.
        await rename(temporary, finalPath);
        return { digest, size };
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
        await access(pathOf(digest));
        return (await stat(pathOf(digest))).isFile();
      } catch {
        return false;
      }
    },
  };
}
