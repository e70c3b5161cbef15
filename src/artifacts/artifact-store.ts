// Owns what every artifact store promises: immutable blobs (build outputs and uploaded
// sources) addressed by their sha256, written whole or not at all. Two stores keep that
// promise: a local directory (local-artifact-store.ts) and S3-compatible object storage
// (s3-artifact-store.ts); test/artifacts/artifact-store-conformance.test.ts holds both to it.
import { createHash } from "node:crypto";
import { Transform, type Readable } from "node:stream";

export type StoredArtifact = { digest: string; size: number };

export type ArtifactStore = {
  /** Where the blobs live, for messages: a directory or s3://bucket/prefix (never a credential). */
  readonly location: string;
  /**
   * Keeps the stream's bytes under their digest. Until the stream has ended and the blob is
   * committed, nothing (open, has, another node) sees it; a failed or aborted put leaves none.
   */
  put(content: Readable, maxBytes: number): Promise<StoredArtifact>;
  open(digest: string): Readable;
  has(digest: string): Promise<boolean>;
  /** Deletes a blob nothing refers to (a refused upload, a pruned build); the caller checks that. */
  remove(digest: string): Promise<void>;
  /** Milliseconds since the blob was last written (a put of the same content writes it again), or null when there is none. */
  age(digest: string): Promise<number | null>;
  /** Throws a message that says what to fix when the store cannot be reached or written. */
  check(): Promise<void>;
  /** Deletes what puts that never finished (a crash, a kill) left behind, older than `olderThanMs`. */
  sweepTemporary(olderThanMs: number): Promise<number>;
};

export class ArtifactTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`the build output is larger than the ${Math.round(maxBytes / 1024 / 1024)} MB limit`);
    this.name = "ArtifactTooLargeError";
  }
}

/** A store that cannot do what it was asked: unreachable, refused, or a blob that is not there. */
export class ArtifactStoreError extends Error {
  constructor(
    message: string,
    readonly code: "missing" | "unreachable" | "refused" | "corrupt" | "failed",
  ) {
    super(message);
    this.name = "ArtifactStoreError";
  }
}

const digestPattern = /^sha256:[0-9a-f]{64}$/;

/** The digest's hex part; anything but a sha256 digest is refused, so a digest never names a path outside the store. */
export function digestHex(digest: string): string {
  if (!digestPattern.test(digest)) throw new Error(`not an artifact digest: ${digest}`);
  return digest.slice("sha256:".length);
}

/** A pass-through that hashes and counts what flows, and fails past `maxBytes`. */
export function measureArtifact(maxBytes: number): { stream: Transform; result: () => StoredArtifact } {
  const hash = createHash("sha256");
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > maxBytes) return done(new ArtifactTooLargeError(maxBytes));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  return { stream, result: () => ({ digest: `sha256:${hash.digest("hex")}`, size }) };
}
