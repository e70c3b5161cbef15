// Issue 13, deliverable 3: builds have a disk limit (SLIPWAY_BUILD_DISK_MB). On the real
// stack with a 64 MB limit: a build that writes 160 MB into its container (slowly or at
// once), and one that writes it into its build cache, fail with that reason in their check
// run (and the full cache is cleared, so the next build is not failed by it); a build that
// writes 8 MB succeeds and serves. On an engine whose storage driver enforces a size (overlay2 on XFS
// with pquota), the write itself fails and is reported the same way; elsewhere (this
// machine's ext4) Slipway measures and stops the build.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import { pushPayload } from "../emulator/webhooks.js";
import type { RepoRecord } from "../emulator/emulator-types.js";
import { functionSlug, functionUrl } from "../../src/gateway/route-key.js";
import { cacheVolumeName } from "../../src/pipeline/build-cache.js";
import { probeStorageLimit } from "../../src/pipeline/probe-storage-limit.js";
import { runInCacheVolume } from "../support/runtime-harness.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "diskhog";
const yml = (id: string, commands: string) => `functions:\n  - id: ${id}\n    runtime: node-20\n    root: fn\n    commands: ${JSON.stringify(commands)}\n    execute: any\n`;
const handler = "module.exports = async (c) => c.res.text('built');\n";
// The sleep keeps the build alive after the write, so the limit cannot be missed by timing.
const write = (where: string, mb: number) => `mkdir -p ${where} && head -c ${mb}M /dev/zero > ${where}/blob.bin && sleep 20`;
const reason = /the build wrote more than SLIPWAY_BUILD_DISK_MB \(64 MB\) to disk/;

describe("a build's disk limit", { timeout: 10 * 60_000 }, () => {
  let stack: SlipwayStack;
  let repo: RepoRecord;

  before(async () => {
    stack = await startSlipwayStack({ env: { SLIPWAY_BUILD_DISK_MB: "64" } });
    repo = await stack.emulator.createRepo({ owner, name: "builds", installationId: 9501 });
  });
  after(async () => {
    if (stack) {
      assert.deepEqual(stack.emulator.validationErrors, [], "every request Slipway made matches GitHub's OpenAPI description");
      await stack.stop();
    }
  });

  async function build(id: string, commands: string) {
    const commit = await stack.emulator.commit({ owner, repo: repo.name, files: { "slipway.yml": yml(id, commands), "fn/index.js": handler }, message: id });
    await stack.deliver("push", pushPayload({ repo, before: commit.before, after: commit.sha, message: id }));
    return stack.emulator.waitFor(
      () => stack.emulator.checkRuns(owner, repo.name).find((r) => r.head_sha === commit.sha && r.name === `slipway / ${id}` && r.status === "completed"),
      { timeoutMs: 4 * 60_000, intervalMs: 500, describe: () => stack.logs().slice(-4000) },
    );
  }
  const functionId = async (name: string) => (await stack.db.query<{ id: string }>("select id from functions where name = $1", [name])).rows[0]!.id;

  test("a build that writes more than the limit into its container fails with that reason", async () => {
    const run = await build("layer", write("/usr/local/build/junk", 160));
    assert.equal(run.conclusion, "failure");
    const shown = `${run.output.title ?? ""}\n${run.output.summary ?? ""}\n${run.output.text ?? ""}`;
    assert.match(shown, reason, shown);
    assert.match(shown, /raise SLIPWAY_BUILD_DISK_MB/);
    // Stopped by the measurement, it says how much it held; refused by the engine, its write failed.
    if (await probeStorageLimit(new Docker(), "slipway/runtime-node-20:local")) assert.match(run.output.text ?? "", /Disk quota exceeded|No space left on device/);
    else assert.match(shown, /\((?:6[5-9]|[7-9]\d|\d{3,}) MB when it was stopped\)/);
    const stored = (await stack.db.query<{ error: string }>("select error from deployments where function_id = $1", [await functionId("layer")])).rows[0]!;
    assert.match(stored.error, reason);
    // Neither the build nor the container that measured it is left behind.
    const left = await new Docker().listContainers({ all: true, filters: { label: [`slipway.function=${await functionId("layer")}`] } });
    assert.deepEqual(left.filter((c) => c.Labels["slipway.role"] !== "runtime").map((c) => c.Labels["slipway.role"]), []);
  });

  test("a build that writes past the limit and ends before the next reading fails too", async () => {
    const run = await build("quick", "head -c 160M /dev/zero > /usr/local/build/junk");
    assert.equal(run.conclusion, "failure");
    assert.match(`${run.output.summary ?? ""}\n${run.output.text ?? ""}`, reason);
  });

  test("a build that fills its build cache past the limit fails the same way, and the cache is cleared", async () => {
    // npm's cache folder is in the function's cache volume, which the limit covers too.
    const run = await build("cache", write("$npm_config_cache/junk", 160));
    assert.equal(run.conclusion, "failure");
    assert.match(`${run.output.summary ?? ""}\n${run.output.text ?? ""}`, reason);
    assert.match(run.output.text ?? "", /its build cache was cleared/);
    const volume = cacheVolumeName(await functionId("cache"), "node-20");
    const held = await runInCacheVolume("slipway/runtime-node-20:local", volume, "du -sk /mnt/cache | cut -f1");
    assert.equal(held.exitCode, 0, held.output);
    assert.ok(Number(held.output.trim()) < 1024, `the cache was emptied (${held.output.trim()} KB left)`);
  });

  test("a build under the limit succeeds and serves", async () => {
    const run = await build("small", write("/usr/local/build/junk", 8).replace("sleep 20", "sleep 3"));
    assert.equal(run.conclusion, "success", run.output.summary ?? "");
    const url = functionUrl(stack.gatewayUrl, functionSlug(owner, repo.name, "small"));
    await stack.emulator.waitFor(async () => (await fetch(url).then((r) => r.text()).catch(() => "")) === "built", { timeoutMs: 60_000, intervalMs: 250 });
  });
});
