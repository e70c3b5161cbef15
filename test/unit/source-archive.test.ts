// Uploaded source archives: what is refused (and why), and that unpacking never writes
// outside its directory whatever the archive's order of links and files.
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, readlink, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { SourceArchiveError, unpackSourceArchive } from "../../src/pipeline/source-archive.js";

type Entry = { name: string; content?: string; type?: "file" | "directory" | "symlink" | "link" | "fifo"; linkname?: string; mode?: number };

async function archive(entries: Entry[]): Promise<Readable> {
  const pack = tar.pack();
  for (const entry of entries) {
    if (entry.type && entry.type !== "file") pack.entry({ name: entry.name, type: entry.type, ...(entry.linkname ? { linkname: entry.linkname } : {}) });
    else pack.entry({ name: entry.name, mode: entry.mode ?? 0o644 }, entry.content ?? "");
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Readable.from([gzipSync(Buffer.concat(chunks))]);
}

async function refused(entries: Entry[], pattern: RegExp): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), "slipway-archive-"));
  try {
    await assert.rejects(unpackSourceArchive(await archive(entries), directory), (error: Error) => error instanceof SourceArchiveError && pattern.test(error.message));
    await assert.rejects(unpackSourceArchive(await archive(entries), null), (error: Error) => error instanceof SourceArchiveError && pattern.test(error.message));
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

describe("uploaded source archives", () => {
  test("unpacks files, directories, execute bits and inside links; reports slipway.yml", async () => {
    const directory = await mkdtemp(join(tmpdir(), "slipway-archive-"));
    try {
      const summary = await unpackSourceArchive(
        await archive([
          { name: "./slipway.yml", content: "functions: []\n" },
          { name: "fn/", type: "directory" },
          { name: "fn/index.js", content: "hello" },
          { name: "fn/run.sh", content: "#!/bin/sh\n", mode: 0o755 },
          { name: "fn/current", type: "symlink", linkname: "index.js" },
        ]),
        directory,
      );
      assert.deepEqual(summary, { files: 3, bytes: 14 + 5 + 10, config: null });
      assert.equal(await readFile(join(directory, "fn/index.js"), "utf8"), "hello");
      assert.equal((await stat(join(directory, "fn/run.sh"))).mode & 0o111, 0o111);
      assert.equal(await readlink(join(directory, "fn/current")), "index.js");
      const checked = await unpackSourceArchive(await archive([{ name: "slipway.yml", content: "functions: []\n" }]), null);
      assert.equal(checked.config, "functions: []\n", "a check alone hands back slipway.yml for the app to read");
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  test("refuses paths and links that leave the upload, and entries that are not files", async () => {
    await refused([{ name: "../escape.js", content: "x" }], /climbs out of the upload/);
    await refused([{ name: "a/../../escape.js", content: "x" }], /climbs out/);
    await refused([{ name: "/etc/passwd", content: "x" }], /absolute path/);
    await refused([{ name: "up", type: "symlink", linkname: "../.." }], /points outside the upload/);
    await refused([{ name: "abs", type: "symlink", linkname: "/etc" }], /absolute path '\/etc'/);
    await refused([{ name: "hard", type: "link", linkname: "x" }], /is a hard link; only regular files, directories and symbolic links/);
  });

  test("never writes through a link, even when the link comes first", async () => {
    const directory = await mkdtemp(join(tmpdir(), "slipway-archive-"));
    try {
      await assert.rejects(
        unpackSourceArchive(await archive([{ name: "d", type: "symlink", linkname: "." }, { name: "d/x.js", content: "x" }]), directory),
        /holds 'd' both as a link and as a file or directory/,
      );
      // Whatever happened, nothing but the upload's own entries exist in the directory.
      for (const name of await readdir(directory)) assert.ok(["d"].includes(name), `unexpected ${name}`);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  test("says when the upload is not a .tar.gz, or too big", async () => {
    await assert.rejects(unpackSourceArchive(Readable.from([Buffer.from("plain text, not gzip")]), null), /not a gzip-compressed tar archive/);
    await assert.rejects(unpackSourceArchive(Readable.from([gzipSync(Buffer.alloc(1024, 7))]), null), /not a tar archive|not a gzip-compressed tar/);
    await assert.rejects(
      unpackSourceArchive(await archive([{ name: "big.bin", content: "x".repeat(2048) }]), null, { maxBytes: 1024, maxEntries: 10 }),
      /larger than 1 KB/,
    );
    await assert.rejects(
      unpackSourceArchive(await archive([{ name: "a" }, { name: "b" }, { name: "c" }]), null, { maxBytes: 1024, maxEntries: 2 }),
      /more than 2 entries/,
    );
  });
});
