import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { checkArchivePaths, isSafeArchivePath } from "../../src/pipeline/stream-artifact-out.js";

async function gzippedTar(entries: Parameters<tar.Pack["entry"]>[0][]): Promise<Buffer> {
  const pack = tar.pack();
  for (const entry of entries) {
    if (entry.type === "file" || !entry.type) pack.entry(entry, "x");
    else pack.entry(entry);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

test("paths inside the function are safe; absolute and escaping ones are not", () => {
  assert.ok(isSafeArchivePath("./index.js"));
  assert.ok(isSafeArchivePath("node_modules/a/../b/index.js"));
  assert.ok(!isSafeArchivePath("/etc/passwd"));
  assert.ok(!isSafeArchivePath("../outside"));
  assert.ok(!isSafeArchivePath("a/../../outside"));
});

test("a clean archive passes and its entries are counted", async () => {
  const archive = await gzippedTar([{ name: "index.js" }, { name: "lib/", type: "directory" }, { name: "lib/link", type: "symlink", linkname: "../index.js" }]);
  assert.equal(await checkArchivePaths(Readable.from([archive])), 3);
});

test("an entry escaping with '..' is rejected", async () => {
  const archive = await gzippedTar([{ name: "ok.js" }, { name: "../../evil.sh" }]);
  await assert.rejects(checkArchivePaths(Readable.from([archive])), /unsafe path: \.\.\/\.\.\/evil\.sh/);
});

test("a symlink pointing outside the function is rejected", async () => {
  const archive = await gzippedTar([{ name: "passwd", type: "symlink", linkname: "/etc/passwd" }]);
  await assert.rejects(checkArchivePaths(Readable.from([archive])), /link that escapes/);
});
