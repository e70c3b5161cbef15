// Owns a node's read-through cache of artifacts on local disk (SLIPWAY_ARTIFACT_CACHE_DIR,
// at most SLIPWAY_ARTIFACT_CACHE_MB). Blobs never change, so a cached copy never goes stale;
// the least recently used ones go when the cache is over its size. A download is checked
// against its digest before it is kept, and concurrent reads of one blob share one download.
import { createHash, randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat, utimes } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ArtifactStoreError, digestHex, measureArtifact } from "./artifact-store.js";

export type ArtifactDownload = { body: Readable; size: number | undefined };

export type ArtifactCache = {
  /** The blob's bytes: from the cached copy, or downloaded (and kept when it fits). */
  read(digest: string, download: () => Promise<ArtifactDownload>): Promise<Readable>;
  drop(digest: string): Promise<void>;
  /** What the cache holds now, least recently used first. */
  entries(): Promise<{ digest: string; size: number }[]>;
  readonly maxBytes: number;
};

export function createArtifactCache(directory: string, maxBytes: number): ArtifactCache {
  const root = resolve(directory);
  const blobDir = join(root, "sha256");
  const temporaryDir = join(root, "tmp");
  // digest → size, in order of use (a Map keeps insertion order; a use re-inserts).
  const index = new Map<string, number>();
  let usedBytes = 0;
  const downloads = new Map<string, Promise<string | null>>();
  const pathOf = (digest: string) => join(blobDir, digestHex(digest));

  // The index starts from what is on disk, oldest use first (a hit touches the file's mtime).
  const loaded = (async () => {
    await rm(temporaryDir, { recursive: true, force: true });
    await mkdir(temporaryDir, { recursive: true });
    await mkdir(blobDir, { recursive: true });
    const found: { digest: string; size: number; used: number }[] = [];
    for (const name of await readdir(blobDir)) {
      const info = await stat(join(blobDir, name)).catch(() => null);
      if (info?.isFile() && /^[0-9a-f]{64}$/.test(name)) found.push({ digest: `sha256:${name}`, size: info.size, used: info.mtimeMs });
    }
    for (const entry of found.sort((a, b) => a.used - b.used)) remember(entry.digest, entry.size);
    await evict();
  })();
  loaded.catch(() => {}); // awaited by every read, which reports it

  function remember(digest: string, size: number) {
    const known = index.get(digest);
    if (known !== undefined) {
      index.delete(digest);
      usedBytes -= known;
    }
    index.set(digest, size);
    usedBytes += size;
  }

  async function forget(digest: string) {
    const size = index.get(digest);
    if (size !== undefined) {
      index.delete(digest);
      usedBytes -= size;
    }
    // A reader that has the file open keeps reading it; unlinking only drops the name.
    await rm(pathOf(digest), { force: true });
  }

  async function evict(keep?: string) {
    for (const digest of [...index.keys()]) {
      if (usedBytes <= maxBytes) return;
      if (digest !== keep) await forget(digest);
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
      remember(digest, got.size);
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
    if (!index.has(digest)) return null;
    // Opened before it is read, so an eviction after this point cannot take it away.
    const handle = await open(pathOf(digest), "r").catch(() => null);
    if (!handle) {
      index.delete(digest);
      return null;
    }
    remember(digest, index.get(digest)!);
    const now = new Date();
    await utimes(pathOf(digest), now, now).catch(() => {});
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
      await forget(digest);
    },
    async entries() {
      await loaded;
      return [...index].map(([digest, size]) => ({ digest, size }));
    },
  };
}
