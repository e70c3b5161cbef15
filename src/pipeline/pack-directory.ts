// Owns turning a directory of source into a tar stream (tar-stream), under a prefix, so it
// can be put into a container through the Docker API rather than a bind mount.
import { createReadStream, type Stats } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join, posix } from "node:path";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";

export type ExtraEntry = { name: string; content: Buffer; mode?: number };

const skipped = new Set([".git"]);

async function addDirectory(pack: tar.Pack, directory: string, prefix: string): Promise<void> {
  const entries = await readdir(directory, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    if (skipped.has(entry.name)) continue;
    const path = join(directory, entry.name);
    const name = posix.join(prefix, entry.name);
    const info = await lstat(path);
    if (info.isDirectory()) {
      pack.entry({ name: `${name}/`, type: "directory", mode: 0o755, mtime: info.mtime });
      await addDirectory(pack, path, name);
    } else {
      await addFileOrLink(pack, path, name, info);
    }
  }
}

/** Adds a regular file (with its mode) or a link (as a link) at `path` as `name`; anything else is left out. */
export async function addFileOrLink(pack: tar.Pack, path: string, name: string, info: Stats): Promise<void> {
  if (info.isSymbolicLink()) {
    pack.entry({ name, type: "symlink", linkname: await readlink(path), mtime: info.mtime });
  } else if (info.isFile()) {
    await pipeline(createReadStream(path), pack.entry({ name, size: info.size, mode: info.mode & 0o777, mtime: info.mtime }));
  }
}

/** Packs `directory` as `<prefix>/...` plus any extra files, e.g. a CA bundle. */
export function packDirectory(directory: string, prefix: string, extras: ExtraEntry[] = []): tar.Pack {
  const pack = tar.pack();
  (async () => {
    pack.entry({ name: `${prefix}/`, type: "directory", mode: 0o755 });
    await addDirectory(pack, directory, prefix);
    for (const extra of extras) {
      const dir = posix.dirname(extra.name);
      if (dir !== ".") pack.entry({ name: `${dir}/`, type: "directory", mode: 0o755 });
      pack.entry({ name: extra.name, mode: extra.mode ?? 0o644 }, extra.content);
    }
    pack.finalize();
  })().catch((error: Error) => pack.destroy(error));
  return pack;
}
