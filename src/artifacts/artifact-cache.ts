// Owns a node's read-through cache of artifacts on local disk (SLIPWAY_ARTIFACT_CACHE_DIR,
// at most SLIPWAY_ARTIFACT_CACHE_MB). Blobs never change, so a cached copy never goes stale;
// the least recently used ones go when the cache is over its size. A download is checked
// against its digest before it is kept, and concurrent reads of one blob share one download.
import { createHash, randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ArtifactStoreError, digestHex, measureArtifact } from "./artifact-store.js";

export type ArtifactDownload = { body: Readable; size: number | undefined };

export type ArtifactCache = {
  /** The blob's bytes: from the cached copy, or downloaded (and kept when it fits). */
  read(digest: string, download: () => Promise<ArtifactDownload>): Promise<Readable>;
  drop(digest: string): Promise<void>;
  readonly maxBytes: number;
};

export function createArtifactCache(directory: string, maxBytes: number): ArtifactCache {
  const root = resolve(directory);
  const blobDir = join(root, "sha256");
  const temporaryDir = join(root, "tmp");
  const downloads = new Map<string, Promise<string | null>>();
  const pathOf = (digest: string) => join(blobDir, digestHex(digest));

  // The directory is the index, so processes that share it (an app and a worker on one
  // machine) stay within one bound; a read touches a blob's mtime, which orders eviction.
  const loaded = (async () => {
    await mkdir(temporaryDir, { recursive: true });
    await mkdir(blobDir, { recursive: true });
    // Downloads a killed process left; a live one's are younger than this.
    for (const name of await readdir(temporaryDir)) {
      const info = await stat(join(temporaryDir, name)).catch(() => null);
      if (info && Date.now() - info.mtimeMs > 60 * 60_000) await rm(join(temporaryDir, name), { force: true });
    }
  })();
  loaded.catch(() => {}); // awaited by every read, which reports it

  async function cachedBlobs(): Promise<{ digest: string; size: number; used: number }[]> {
    const found: { digest: string; size: number; used: number }[] = [];
    for (const name of await readdir(blobDir)) {
      const info = await stat(join(blobDir, name)).catch(() => null);
      if (info?.isFile() && /^[0-9a-f]{64}$/.test(name)) found.push({ digest: `sha256:${name}`, size: info.size, used: info.mtimeMs });
    }
    return found.sort((a, b) => a.used - b.used);
  }

  async function evict(keep: string) {
    const blobs = await cachedBlobs();
    let usedBytes = blobs.reduce((sum, blob) => sum + blob.size, 0);
    for (const blob of blobs) {
      if (usedBytes <= maxBytes) return;
      if (blob.digest === keep) continue;
      // A reader that has the file open keeps reading it; unlinking only drops the name.
      await rm(pathOf(blob.digest), { force: true });
      usedBytes -= blob.size;
    }
  }

  async function fetchInto(digest: string, download: () => Promise<ArtifactDownload>): Promise<string | null> {
    const { body, size } = await download();
    // Too large to keep: the caller reads the download itself.
    if (size !== undefined && size > maxBytes) {
      body.destroy();
      return null;
    }
    const temporary = join(temporaryDir, randomUUID());
    const measure = measureArtifact(maxBytes);
    try {
      await pipeline(body, measure.stream, createWriteStream(temporary));
      const got = measure.result();
      if (got.digest !== digest) throw new ArtifactStoreError(`the stored artifact ${digest} does not match its digest (its bytes hash to ${got.digest}); it was changed or damaged in the store`, "corrupt");
      await rename(temporary, pathOf(digest));
      await evict(digest);
      return pathOf(digest);
    } catch (error) {
      await rm(temporary, { force: true });
      // More than the whole cache once counted: read it straight from the store.
      if ((error as Error).name === "ArtifactTooLargeError") return null;
      throw error;
    }
  }

  async function openCached(digest: string): Promise<Readable | null> {
    // Opened before it is read, so an eviction after this point cannot take it away.
    const handle = await open(pathOf(digest), "r").catch(() => null);
    if (!handle) return null;
    const now = new Date();
    await handle.utimes(now, now).catch(() => {});
    return handle.createReadStream();
  }

  /** A download read straight through, not kept: it fails at its end if its bytes are not the digest's. */
  async function readThrough(digest: string, download: () => Promise<ArtifactDownload>): Promise<Readable> {
    const { body } = await download();
    const hash = createHash("sha256");
    const checked = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
      flush(done) {
        const got = `sha256:${hash.digest("hex")}`;
        done(got === digest ? null : new ArtifactStoreError(`the stored artifact ${digest} does not match its digest (its bytes hash to ${got}); it was changed or damaged in the store`, "corrupt"));
      },
    });
    pipeline(body, checked).catch(() => {}); // a failure reaches the reader through `checked`
    return checked;
  }

  return {
    maxBytes,
    async read(digest, download) {
      pathOf(digest);
      await loaded;
      if (maxBytes === 0) return readThrough(digest, download);
      const cached = await openCached(digest);
      if (cached) return cached;
      let pending = downloads.get(digest);
      if (!pending) {
        pending = fetchInto(digest, download).finally(() => downloads.delete(digest));
        downloads.set(digest, pending);
      }
      const path = await pending;
      if (path === null) return readThrough(digest, download);
      return (await openCached(digest)) ?? readThrough(digest, download);
    },
    async drop(digest) {
      await loaded;
      await rm(pathOf(digest), { force: true });
    },
  };
}
