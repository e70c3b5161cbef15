// Owns what `slipway deploy <dir>` uploads: the directory as a gzip-compressed tar. Inside
// a git work tree it sends what git would (tracked and untracked files, minus .gitignore),
// so an ignored `.env` or `node_modules` never leaves the machine; elsewhere it sends
// everything but `.git` and `node_modules`. Links are sent as links.
import { execFile } from "node:child_process";
import { lstat, readdir } from "node:fs/promises";
import { join, posix, sep } from "node:path";
import { promisify } from "node:util";
import { createGzip, type Gzip } from "node:zlib";
import tar from "tar-stream";
import { addFileOrLink } from "../pipeline/pack-directory.js";

const run = promisify(execFile);
const skippedOutsideGit = new Set([".git", "node_modules"]);

async function filesFromGit(directory: string): Promise<string[] | null> {
  try {
    const { stdout } = await run("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: directory, maxBuffer: 64 * 1024 * 1024 });
    return stdout.split("\0").filter((name) => name !== "");
  } catch {
    return null; // not a git work tree, or no git: walk the directory instead
  }
}

async function filesByWalking(directory: string, prefix = ""): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(join(directory, prefix), { withFileTypes: true })) {
    if (skippedOutsideGit.has(entry.name)) continue;
    const name = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) found.push(...(await filesByWalking(directory, name)));
    else if (entry.isFile() || entry.isSymbolicLink()) found.push(name);
  }
  return found;
}

export async function listUploadFiles(directory: string): Promise<string[]> {
  const files = (await filesFromGit(directory)) ?? (await filesByWalking(directory));
  return [...new Set(files)].sort();
}

/** The directory's files as a .tar.gz stream. */
export async function packUpload(directory: string): Promise<Gzip> {
  const names = await listUploadFiles(directory);
  const pack = tar.pack();
  const gzip = createGzip();
  (async () => {
    for (const name of names) {
      const path = join(directory, name);
      // A tracked file deleted from the work tree is not part of the upload.
      const info = await lstat(path).catch(() => null);
      if (info) await addFileOrLink(pack, path, name.split(sep).join(posix.sep), info);
    }
    pack.finalize();
  })().catch((error: Error) => pack.destroy(error));
  pack.pipe(gzip);
  pack.on("error", (error: Error) => gzip.destroy(error));
  return gzip;
}
