// The worker and the build container must hash the dependency files alike, or no install
// would ever be skipped (or, worse, one that should run would be); and packages whose
// install does more than fill node_modules always install.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { dependencyFilesDigest, dependencyReuseScript, installMustRun } from "../../src/pipeline/dependency-reuse.js";

const run = promisify(execFile);

async function shellDigest(directory: string): Promise<string> {
  const { stdout } = await run("bash", ["-c", `${dependencyReuseScript}\ncd "$1" && slipway_deps_files`, "digest", directory]);
  return stdout.trim();
}

test("the worker's digest of the dependency files is the build container's", async () => {
  const dir = await mkdtemp(join(tmpdir(), "deps-digest-"));
  try {
    await writeFile(join(dir, "package.json"), '{ "name": "a" }\n');
    const manifestOnly = await dependencyFilesDigest(dir);
    assert.equal(manifestOnly, await shellDigest(dir));
    await writeFile(join(dir, "package-lock.json"), "{}\n");
    await writeFile(join(dir, ".npmrc"), "registry=https://example.invalid/\n");
    const withLock = await dependencyFilesDigest(dir);
    assert.equal(withLock, await shellDigest(dir));
    assert.notEqual(withLock, manifestOnly, "a lockfile changes the digest");
    await writeFile(join(dir, "package-lock.json"), "{ }\n");
    assert.notEqual(await dependencyFilesDigest(dir), withLock, "so does one byte of it");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a dependency file that is a link is not read on the worker, and the container sees it differ", async () => {
  const dir = await mkdtemp(join(tmpdir(), "deps-link-"));
  try {
    await writeFile(join(dir, "package.json"), "{}\n");
    await symlink("/etc/hostname", join(dir, "package-lock.json"));
    assert.equal(await dependencyFilesDigest(dir), null);
    assert.match(await shellDigest(dir), /^[0-9a-f]{64}$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("install scripts, workspaces and local dependencies make the install run every time", () => {
  assert.equal(installMustRun('{ "dependencies": { "ms": "2.1.3" }, "scripts": { "start": "node ." } }'), null);
  assert.match(installMustRun('{ "scripts": { "postinstall": "node gen.js" } }') ?? "", /"postinstall" script/);
  assert.match(installMustRun('{ "scripts": { "prepare": "tsc" } }') ?? "", /"prepare" script/);
  assert.match(installMustRun('{ "workspaces": ["a"] }') ?? "", /workspaces/);
  assert.match(installMustRun('{ "dependencies": { "lib": "file:../lib" } }') ?? "", /"lib" is a local folder/);
  assert.match(installMustRun('{ "devDependencies": { "lib": "./lib" } }') ?? "", /local folder/);
  assert.match(installMustRun("{ nope") ?? "", /not valid JSON/);
});
