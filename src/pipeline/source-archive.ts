// Owns uploaded source archives (`slipway deploy <dir>`): a gzip-compressed tar of a
// function's or a repository's directory. The app checks one when it is uploaded, so a bad
// archive is refused at once with a reason; the worker unpacks it in place of a git fetch.
// The rules are a build output's (src/artifacts/archive-tree.ts), without hard links: only
// regular files, directories and links that stay inside the upload, however they chain.
// Links are made last, after every file is written, and never under another link, so
// unpacking cannot write outside its directory whatever the archive's order.
import { createWriteStream } from "node:fs";
import { lstat, mkdir, symlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import { ArchiveRuleError, ArchiveTree, describeSize } from "../artifacts/archive-tree.js";
import { configFileName } from "../config/parse-slipway-config.js";

export class SourceArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SourceArchiveError";
  }
}

/** `config` is the text of a top-level slipway.yml: then the upload is a repository, not one function's directory. */
export type SourceArchiveSummary = { files: number; bytes: number; config: string | null };

const maxConfigBytes = 256 * 1024;

/** `maxBytes` bounds the unpacked size, the sum of the files' sizes (SLIPWAY_MAX_UNPACKED_MB). */
export type SourceArchiveLimits = { maxBytes: number; maxEntries: number };

// The worker unpacks an upload the app already checked; SLIPWAY_MAX_UNPACKED_MB's default.
export const defaultSourceLimits: SourceArchiveLimits = { maxBytes: 1024 * 1024 * 1024, maxEntries: 50_000 };

/** Refuses to put anything under a link: every parent of `name` inside `root` must be a real directory. */
async function assertRealParents(root: string, name: string): Promise<void> {
  const parts = name.split("/").slice(0, -1);
  let path = root;
  for (const part of parts) {
    path = join(path, part);
    const info = await lstat(path).catch(() => null);
    if (info && !info.isDirectory()) throw new SourceArchiveError(`the archive entry '${name}' lies under '${part}', which is not a directory`);
  }
}

/**
 * Reads a gzip-compressed tar. With `into`, writes it there; without, only checks it.
 * Either way it throws a SourceArchiveError that says what is wrong with the archive.
 */
export async function unpackSourceArchive(archive: Readable, into: string | null, limits: SourceArchiveLimits = defaultSourceLimits): Promise<SourceArchiveSummary> {
  const summary: SourceArchiveSummary = { files: 0, bytes: 0, config: null };
  const links: { name: string; target: string }[] = [];
  const tree = new ArchiveTree({ noun: "upload", maxUnpackedBytes: limits.maxBytes, maxEntries: limits.maxEntries, hardLinks: false });
  const extract = tar.extract();
  extract.on("entry", (header, stream, next) => {
    void (async () => {
      const name = tree.add(header);
      if (name === "") {
        stream.resume();
        return;
      }
      const destination = into ? join(into, name) : null;
      switch (header.type) {
        case "directory":
          if (destination) {
            await assertRealParents(into!, name);
            await mkdir(destination, { recursive: true });
          }
          stream.resume();
          return;
        case "file":
        case "contiguous-file": {
          summary.files++;
          summary.bytes += header.size ?? 0;
          if (name === configFileName && !destination) {
            if ((header.size ?? 0) > maxConfigBytes) throw new SourceArchiveError(`${configFileName} is larger than ${describeSize(maxConfigBytes)}`);
            const chunks: Buffer[] = [];
            stream.on("data", (chunk: unknown) => chunks.push(chunk as Buffer));
            await new Promise<void>((resolve) => stream.on("end", () => resolve()));
            summary.config = Buffer.concat(chunks).toString("utf8");
            return;
          }
          if (!destination) {
            stream.resume();
            await new Promise<void>((resolve) => stream.on("end", () => resolve()));
            return;
          }
          await assertRealParents(into!, name);
          await mkdir(dirname(destination), { recursive: true });
          // Keep the execute bits (scripts, prebuilt binaries); nothing else of the mode.
          const mode = (header.mode ?? 0o644) & 0o111 ? 0o755 : 0o644;
          await pipeline(stream, createWriteStream(destination, { mode, flags: "wx" }));
          return;
        }
        case "symlink":
          links.push({ name, target: header.linkname! });
          stream.resume();
          return;
      }
    })().then(
      () => next(),
      (error: unknown) => {
        // The refusal ends the whole extract, this entry's stream with it; the pipeline reports it once.
        stream.on("error", () => {});
        stream.resume();
        next(error as Error);
      },
    );
  });
  const gunzip = createGunzip();
  try {
    await pipeline(archive, gunzip, tree.meter(), extract);
    tree.finish();
  } catch (error) {
    if (error instanceof SourceArchiveError) throw error;
    if (error instanceof ArchiveRuleError) throw new SourceArchiveError(error.message);
    const code = (error as { code?: string }).code ?? "";
    if (code.startsWith("Z_") || /incorrect header check|unexpected end of file/i.test((error as Error).message)) {
      throw new SourceArchiveError("the upload is not a gzip-compressed tar archive");
    }
    if (code === "EEXIST") throw new SourceArchiveError("the archive holds the same path twice");
    if (/invalid tar header|unexpected end of data/i.test((error as Error).message)) throw new SourceArchiveError("the upload is gzip-compressed but not a tar archive");
    throw error;
  }
  if (into) {
    for (const link of links) {
      await assertRealParents(into, link.name);
      await symlink(link.target, join(into, link.name)).catch((error: NodeJS.ErrnoException) => {
        if (error.code === "EEXIST") throw new SourceArchiveError(`the archive holds '${link.name}' both as a link and as a file or directory`);
        throw error;
      });
    }
  }
  return summary;
}
