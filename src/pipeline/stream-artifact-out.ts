// Owns taking the built archive out of a build container (getArchive, a tar stream holding
// code.tar.gz) and into the artifact store. On the way it is checked as the filesystem the
// runtime container will unpack (src/artifacts/archive-tree.ts), and it must hold the file
// its runtime starts from; a build output that fails either is refused with the reason, and
// the store never keeps it, since its last byte is let through only once the check passed.
import type Docker from "dockerode";
import { PassThrough, Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import { ArchiveRuleError, ArchiveTree } from "../artifacts/archive-tree.js";
import { ArtifactTooLargeError, type ArtifactStore, type StoredArtifact } from "../artifacts/artifact-store.js";
import type { Runtime } from "../runtimes/runtime-catalog.js";

export const artifactPathInContainer = "/mnt/code/code.tar.gz";

// A large node_modules holds tens of thousands of files; the bound keeps the check's memory small.
const maxArtifactEntries = 200_000;

/** Why a build's output cannot be deployed: the build fails with this message. */
export class ArtifactRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ArtifactRefusedError";
  }
}

export type ArtifactRules = {
  /** The compressed size (SLIPWAY_MAX_ARTIFACT_MB). */
  maxBytes: number;
  /** The sum of its files' sizes (SLIPWAY_MAX_UNPACKED_MB). */
  maxUnpackedBytes: number;
  runtime: Runtime;
  /** The deployment's entrypoint, for a runtime that starts from it. */
  entrypoint: string;
};

/** Checks a build's code.tar.gz as it streams; rejects with an ArtifactRefusedError that says what is wrong. */
export async function checkBuildOutput(gzipped: Readable, rules: Omit<ArtifactRules, "maxBytes">): Promise<{ entries: number; unpackedBytes: number }> {
  const tree = new ArchiveTree({ noun: "build output", maxUnpackedBytes: rules.maxUnpackedBytes, maxEntries: maxArtifactEntries, hardLinks: true });
  const extract = tar.extract();
  extract.on("entry", (header, stream, next) => {
    try {
      tree.add(header);
    } catch (error) {
      // The refusal ends the whole extract, this entry's stream with it; the pipeline below
      // reports it once. next() is called later, not inside tar-stream's own 'entry' emit.
      stream.on("error", () => {});
      stream.resume();
      process.nextTick(next, error as Error);
      return;
    }
    stream.on("end", () => next());
    stream.resume();
  });
  try {
    await pipeline(gzipped, createGunzip(), tree.meter(), extract);
    tree.finish();
  } catch (error) {
    throw error instanceof ArchiveRuleError ? new ArtifactRefusedError(error.message) : error;
  }
  checkStartFile(tree, rules.runtime, rules.entrypoint);
  return { entries: tree.entries, unpackedBytes: tree.unpackedBytes };
}

/** The runtime's container starts from one file; without it the function could never start. */
function checkStartFile(tree: ArchiveTree, runtime: Runtime, entrypoint: string): void {
  if (!runtime.startsFrom) return;
  const fromEntrypoint = runtime.startsFrom === "entrypoint";
  const file = runtime.startsFrom === "entrypoint" ? entrypoint : runtime.startsFrom.file;
  const found = tree.find(file);
  if (found === "file") return;
  if (found === "outside") throw new ArtifactRefusedError(`the entrypoint '${file}' lies outside the function's folder, so the ${runtime.name} runtime could never start it`);
  if (found === "directory") throw new ArtifactRefusedError(`'${file}' in the build output is a directory, not a file, so the ${runtime.name} runtime could never start it`);
  throw new ArtifactRefusedError(
    fromEntrypoint
      ? `the build output has no entrypoint '${file}', which the ${runtime.name} runtime starts the function from; check \`entrypoint\` in slipway.yml and that the build leaves that file in place`
      : `the build output has no '${file}', the file the ${runtime.name} runtime starts from, so it could never start`,
  );
}

export async function streamArtifactOut(container: Docker.Container, store: ArtifactStore, rules: ArtifactRules): Promise<StoredArtifact> {
  const archive = (await container.getArchive({ path: artifactPathInContainer })) as unknown as Readable;
  const extract = tar.extract();
  const file = new Promise<Readable>((resolve, reject) => {
    extract.once("entry", (_header, stream) => resolve(stream as unknown as Readable));
    extract.on("error", reject);
    extract.on("finish", () => reject(new Error("the build left no code.tar.gz")));
  });
  archive.pipe(extract as unknown as NodeJS.WritableStream);
  const content = await file;
  // pipe() to both sinks pauses the source whenever either is full, so a large artifact
  // flows through with bounded memory.
  // tar-stream's entry (a streamx stream) pipes to one destination only, so it feeds a
  // Node stream that fans out.
  const source = new PassThrough();
  const toCheck = new PassThrough();
  const checked = checkBuildOutput(toCheck, rules);
  const toStore = new Transform({
    transform: (chunk: Buffer, _encoding, done) => done(null, chunk),
    // The store keeps the blob only when its stream ends, so it ends when the check passed.
    flush: (done) => void checked.then(() => done(), done),
  });
  // Either side failing stops the other, and both settle before this returns, so a refused
  // output leaves no half-written blob behind. A failure is reported through the promises.
  toStore.on("error", () => {});
  const putting = store.put(toStore, rules.maxBytes);
  checked.catch((error: Error) => {
    toStore.destroy(error);
    archive.destroy();
  });
  putting.catch(() => {
    toCheck.destroy();
    archive.destroy();
  });
  content.pipe(source);
  source.pipe(toStore);
  source.pipe(toCheck);
  content.on("error", (error) => {
    toStore.destroy(error);
    toCheck.destroy(error);
  });
  const [put, check] = await Promise.allSettled([putting, checked]);
  if (put.status === "fulfilled" && check.status === "fulfilled") return put.value;
  const failures = [check, put].flatMap((result) => (result.status === "rejected" ? [result.reason as Error] : []));
  const tooLarge = failures.find((error) => error instanceof ArtifactTooLargeError);
  throw failures.find((error) => error instanceof ArtifactRefusedError) ?? (tooLarge ? new ArtifactRefusedError(`${tooLarge.message} (SLIPWAY_MAX_ARTIFACT_MB)`) : failures[0]);
}
