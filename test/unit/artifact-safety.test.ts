import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { checkBuildOutput } from "../../src/pipeline/stream-artifact-out.js";

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

// A runtime with no start file, so only the paths are checked here.
const rules = { maxUnpackedBytes: 1024 * 1024, runtime: { name: "custom", image: "custom", entrypoint: "index.js", commands: "" }, entrypoint: "index.js" };
const check = async (entries: Parameters<tar.Pack["entry"]>[0][]) => checkBuildOutput(Readable.from([await gzippedTar(entries)]), rules);

test("paths inside the function are safe; absolute ones and any with '..' are not", async () => {
  assert.equal((await check([{ name: "./index.js" }])).entries, 1);
  await assert.rejects(check([{ name: "/etc/passwd" }]), /has an absolute path/);
  await assert.rejects(check([{ name: "../outside" }]), /climbs out/);
  await assert.rejects(check([{ name: "a/../../outside" }]), /climbs out/);
  // tar itself skips members with '..' in them, so the runtime would never see this file.
  await assert.rejects(check([{ name: "node_modules/a/../b/index.js" }]), /climbs out/);
});

test("a clean archive passes and its entries are counted", async () => {
  const result = await check([{ name: "index.js" }, { name: "lib/", type: "directory" }, { name: "lib/link", type: "symlink", linkname: "../index.js" }]);
  assert.deepEqual(result, { entries: 3, unpackedBytes: 1 });
});

test("an entry escaping with '..' is rejected", async () => {
  await assert.rejects(check([{ name: "ok.js" }, { name: "../../evil.sh" }]), /the archive entry '\.\.\/\.\.\/evil\.sh' climbs out of the build output with '\.\.'/);
});

test("a symlink pointing outside the function is rejected", async () => {
  await assert.rejects(check([{ name: "passwd", type: "symlink", linkname: "/etc/passwd" }]), /the link 'passwd' points to the absolute path '\/etc\/passwd'/);
  await assert.rejects(check([{ name: "up", type: "symlink", linkname: "../etc" }]), /the link 'up' points outside the build output/);
});
