import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { cacheVolumeName, looksLikeCorruptCache } from "../../src/pipeline/build-cache.js";
import { loadRuntimeCatalog } from "../../src/runtimes/runtime-catalog.js";

test("the catalog names Node, Python and Rust with their images and defaults", () => {
  const catalog = loadRuntimeCatalog({});
  assert.deepEqual([...catalog.keys()], ["node-20", "python-3.13", "rust-1.85"]);
  assert.equal(catalog.get("node-20")!.entrypoint, "index.js");
  assert.equal(catalog.get("python-3.13")!.image, "slipway/runtime-python-3.13:local");
  assert.equal(catalog.get("rust-1.85")!.buildTimeoutSeconds, 1800);
  for (const runtime of catalog.values()) assert.deepEqual([runtime.user, runtime.readOnlyRootfs], ["10001:10001", true], `${runtime.name} runs as its own user on a read-only root`);
});

test("an operator adds an official open-runtimes image and overrides a built-in image", async () => {
  const dir = await mkdtemp(join(tmpdir(), "catalog-"));
  const file = join(dir, "runtimes.yml");
  await writeFile(file, "- name: go-1.23\n  image: openruntimes/go:v5-1.23\n  entrypoint: main.go\n");
  const catalog = loadRuntimeCatalog({ SLIPWAY_RUNTIMES_FILE: file, SLIPWAY_RUNTIME_IMAGE_NODE_20: "openruntimes/node:v5-20.0" });
  assert.deepEqual(catalog.get("go-1.23"), { name: "go-1.23", image: "openruntimes/go:v5-1.23", entrypoint: "main.go", commands: "" });
  assert.equal(catalog.get("node-20")!.image, "openruntimes/node:v5-20.0");
  // Another image need not be made for a non-root user and a read-only root.
  assert.equal(catalog.get("node-20")!.user, undefined);
  assert.equal(catalog.get("node-20")!.readOnlyRootfs, undefined);
});

test("an operator's runtime may run as its own user on a read-only root; the user must be numeric", async () => {
  const dir = await mkdtemp(join(tmpdir(), "catalog-"));
  const file = join(dir, "runtimes.yml");
  await writeFile(file, '- name: node-20\n  image: registry.example/node-20:1\n  entrypoint: index.js\n  user: "10001:10001"\n  readOnlyRootfs: true\n');
  const kept = loadRuntimeCatalog({ SLIPWAY_RUNTIMES_FILE: file }).get("node-20")!;
  assert.deepEqual([kept.user, kept.readOnlyRootfs], ["10001:10001", true]);
  await writeFile(file, "- name: go-1.23\n  image: openruntimes/go:v5-1.23\n  entrypoint: main.go\n  user: app\n");
  assert.throws(() => loadRuntimeCatalog({ SLIPWAY_RUNTIMES_FILE: file }), /SLIPWAY_RUNTIMES_FILE \[0\.user\]: must be a numeric uid or uid:gid/);
});

test("a bad runtimes file stops start-up with a message naming the setting and the field", async () => {
  const dir = await mkdtemp(join(tmpdir(), "catalog-"));
  const file = join(dir, "runtimes.yml");
  await writeFile(file, "- name: Go!\n  entrypoint: main.go\n");
  assert.throws(() => loadRuntimeCatalog({ SLIPWAY_RUNTIMES_FILE: file }), /SLIPWAY_RUNTIMES_FILE \[0\.name\][\s\S]*SLIPWAY_RUNTIMES_FILE \[0\.image\]/);
});

test("cache volumes are per function and runtime; corruption is recognised, user errors are not", () => {
  assert.notEqual(cacheVolumeName("f1", "node-20"), cacheVolumeName("f2", "node-20"));
  assert.notEqual(cacheVolumeName("f1", "node-20"), cacheVolumeName("f1", "rust-1.85"));
  assert.ok(looksLikeCorruptCache("npm ERR! code EINTEGRITY\nnpm ERR! sha512-abc integrity checksum failed"));
  assert.ok(looksLikeCorruptCache("error: failed to parse /mnt/cache/target/release/.fingerprint/serde-1/lib-serde.json"));
  assert.ok(!looksLikeCorruptCache("error[E0308]: mismatched types\n  --> src/lib.rs:3:5"));
});
