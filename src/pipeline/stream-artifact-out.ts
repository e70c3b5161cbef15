// Owns taking the built archive out of a build container (getArchive, a tar stream holding
// code.tar.gz) and into the artifact store, checking its size and every path inside it on
// the way: no absolute paths, no '..', and no links that point outside the function.
import type Docker from "dockerode";
import { PassThrough, type Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import type { ArtifactStore, StoredArtifact } from "../artifacts/local-artifact-store.js";

export const artifactPathInContainer = "/mnt/code/code.tar.gz";

export class UnsafeArtifactError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafeArtifactError";
  }
}

export function isSafeArchivePath(name: string): boolean {
  if (name.startsWith("/") || name.includes("\0")) return false;
  const parts = name.split("/");
  let depth = 0;
  for (const part of parts) {
    if (part === "..") depth--;
    else if (part !== "." && part !== "") depth++;
    if (depth < 0) return false;
  }
  return true;
}

function linkStaysInside(entryName: string, linkname: string): boolean {
  if (linkname.startsWith("/")) return false;
  const base = entryName.split("/").slice(0, -1).join("/");
  return isSafeArchivePath(base ? `${base}/${linkname}` : linkname);
}

/** Reads a gzip'd tar and rejects the first unsafe entry. */
export async function checkArchivePaths(gzipped: Readable): Promise<number> {
  const extract = tar.extract();
  let entries = 0;
  const done = new Promise<number>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      entries++;
      if (!isSafeArchivePath(header.name)) {
        reject(new UnsafeArtifactError(`the build output contains an unsafe path: ${header.name}`));
        return;
      }
      if ((header.type === "symlink" || header.type === "link") && !linkStaysInside(header.name, header.linkname ?? "")) {
        reject(new UnsafeArtifactError(`the build output has a link that escapes the function: ${header.name} -> ${header.linkname}`));
        return;
      }
      stream.on("end", () => next());
      stream.resume();
    });
    extract.on("finish", () => resolve(entries));
    extract.on("error", reject);
  });
  gzipped.pipe(createGunzip()).on("error", (e) => extract.destroy(e)).pipe(extract);
  return done;
}

export async function streamArtifactOut(
  container: Docker.Container,
  store: ArtifactStore,
  maxBytes: number,
): Promise<StoredArtifact> {
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
  const toStore = new PassThrough();
  const toCheck = new PassThrough();
  content.pipe(source);
  source.pipe(toStore);
  source.pipe(toCheck);
  content.on("error", (error) => {
    toStore.destroy(error);
    toCheck.destroy(error);
  });
  const [stored] = await Promise.all([store.put(toStore, maxBytes), checkArchivePaths(toCheck)]);
  return stored;
}
