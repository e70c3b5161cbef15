// The runtime pool (src/gateway/runtime-pool.ts): a cold start takes a started container
// that waited for code. Checked through a whole stack: the pooled container is locked down
// exactly as a created one, holds no secret or variable until it is assigned (and not in its
// Docker configuration even then: they arrive with the code), serves one deployment only
// and is removed, never parked or given back, when retired; /metrics shows the pool.
//
// Needs runtime images with the pool loader: Slipway's own from runtimes/ (bash
// scripts/setup.sh); SLIPWAY_TEST_RUNTIME_TAG=<tag> uses slipway/runtime-node-20:<tag>.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { createApiToken } from "../../src/api/api-tokens.js";
import { imageSupportsPool, installationOf } from "../../src/gateway/runtime-pool.js";
import { putVariable } from "../../src/variables/variable-client.js";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const docker = new Docker();
const owner = "pool";
const repoName = "deck";
const image = `slipway/runtime-node-20:${process.env.SLIPWAY_TEST_RUNTIME_TAG ?? "local"}`;
const yml = 'functions:\n  - id: chair\n    runtime: node-20\n    root: chair\n    commands: ""\n    execute: any\n';
const handler = (v: string) => `module.exports = async (c) => c.res.text(${JSON.stringify(v)} + ":" + (process.env.COLOUR ?? "none"));\n`;

describe("runtime pool", { timeout: 10 * 60_000 }, () => {
  let stack: SlipwayStack;
  let functionId = "";
  let token = "";
  let repo: Awaited<ReturnType<SlipwayStack["emulator"]["createRepo"]>>;
  let catalogDir = "";
  const ids: Record<number, string> = {};

  const served = async () => (await fetch(`${stack.gatewayUrl}/fn/chair~${repoName}~${owner}/`)).text();
  const container = (version: number) => docker.getContainer(`slipway-runtime-${ids[version]}`).inspect().catch(() => null);
  const metrics = async () => (await fetch(`${stack.gatewayUrl}/metrics`)).text();
  const metric = (text: string, line: RegExp) => Number(line.exec(text)?.[1] ?? NaN);
  const idleMembers = async () => metric(await metrics(), /^slipway_runtime_pool_idle\{runtime="node-20"\} (\d+)$/m);
  const members = async () => {
    const listed = await docker.listContainers({ filters: { label: ["slipway.pool=node-20", `slipway.pool.installation=${installationOf(stack.gatewaySecret)}`] } });
    return listed.filter((c) => c.Names.some((n) => n.startsWith("/slipway-pool-")));
  };
  const push = async (version: string, first: boolean) => {
    const commit = await stack.emulator.commit({ owner, repo: repoName, files: { ...(first ? { "slipway.yml": yml } : {}), "chair/index.js": handler(version) }, message: version });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: version }), secret: stack.webhookSecret });
  };
  const readIds = async () => {
    for (const row of (await stack.db.query("select id, version, function_id from deployments")).rows) {
      ids[row.version as number] = row.id as string;
      functionId = row.function_id as string;
    }
  };

  before(async () => {
    assert.ok(await imageSupportsPool(docker, image), `${image} has no pool loader: rebuild it from runtimes/node-20 (bash scripts/setup.sh)`);
    // The image under test, locked down as the built-in node-20 is (an image override alone runs as root).
    catalogDir = await mkdtemp(join(tmpdir(), "slipway-pool-test-"));
    await writeFile(
      join(catalogDir, "runtimes.yml"),
      `- name: node-20\n  image: ${image}\n  entrypoint: index.js\n  commands: npm install\n  startsFrom: entrypoint\n  user: "10001:10001"\n  readOnlyRootfs: true\n`,
    );
    stack = await startSlipwayStack({
      env: {
        SLIPWAY_RUNTIMES_FILE: join(catalogDir, "runtimes.yml"),
        SLIPWAY_RUNTIME_POOL_SIZE: "node-20=1",
        SLIPWAY_ACTIVATION_GRACE_SECONDS: "2",
        SLIPWAY_PARKED_RUNTIMES_PER_FUNCTION: "3",
        SLIPWAY_MASTER_KEY: "ab".repeat(32),
      },
    });
    repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 7171 });
    await stack.emulator.waitFor(async () => ((await idleMembers()) === 1 ? true : undefined), { timeoutMs: 120_000, intervalMs: 250 });
    await push("one", true);
    await stack.emulator.waitFor(async () => ((await served()) === "one:none" ? true : undefined), { timeoutMs: 180_000, intervalMs: 200 });
    await readIds();
    token = (await createApiToken(stack.db, { name: "pool", kind: "server" })).token;
  });

  after(async () => {
    if (stack) await stack.stop();
    if (catalogDir) await rm(catalogDir, { recursive: true, force: true });
  });

  test("an idle member is locked down as a created runtime and holds no secret or variable", async () => {
    await stack.emulator.waitFor(async () => ((await members()).length === 1 ? true : undefined), { timeoutMs: 120_000, intervalMs: 250 });
    const [listed] = await members();
    const member = await docker.getContainer(listed!.Id).inspect();
    const env = member.Config.Env.map((pair) => pair.split("=")[0]);
    assert.ok(!env.includes("OPEN_RUNTIMES_SECRET"), "no runtime secret before assignment");
    assert.ok(!env.includes("OPEN_RUNTIMES_ENTRYPOINT") || member.Config.Env.includes("OPEN_RUNTIMES_ENTRYPOINT=index.js"), "only the image's default entrypoint");
    assert.ok(env.includes("SLIPWAY_POOL_TOKEN"));
    assert.equal(member.Config.User, "10001:10001");
    assert.equal(member.HostConfig.ReadonlyRootfs, true);
    assert.deepEqual(member.HostConfig.CapDrop, ["ALL"]);
    assert.ok(!member.HostConfig.CapAdd?.length, "no capability added");
    assert.deepEqual(member.HostConfig.SecurityOpt, ["no-new-privileges"]);
    assert.equal(member.HostConfig.NetworkMode, "slipway-runtime");
    assert.equal(member.HostConfig.Memory, 512 * 1024 * 1024);
    assert.equal(member.HostConfig.NanoCpus, 1e9);
    assert.ok(member.HostConfig.Tmpfs?.["/tmp"], "/tmp is a tmpfs");
    assert.ok(member.HostConfig.PortBindings["3000/tcp"]?.every((b: { HostIp: string }) => b.HostIp === "127.0.0.1"), "published on loopback only");
  });

  test("a cold start takes a member: the function is served by it, with its secret and variables delivered at assignment only", async () => {
    const one = (await container(1))!;
    assert.equal(one.Config.Labels["slipway.pool"], "node-20", "v1's container came from the pool");
    assert.ok(!one.Config.Env.some((pair) => pair.startsWith("OPEN_RUNTIMES_SECRET=")), "the secret is not in the container's configuration");

    await putVariable(stack.appUrl, token, functionId, "COLOUR", "teal");
    await stack.emulator.waitFor(async () => ((await idleMembers()) === 1 ? true : undefined), { timeoutMs: 120_000, intervalMs: 250 });
    await push("two", false);
    await stack.emulator.waitFor(async () => ((await served()) === "two:teal" ? true : undefined), { timeoutMs: 180_000, intervalMs: 200 });
    await readIds();
    const two = (await container(2))!;
    assert.equal(two.Config.Labels["slipway.pool"], "node-20", "v2's container came from the pool");
    assert.notEqual(two.Id, one.Id, "a member serves one deployment only");
    assert.ok(!JSON.stringify(two).includes("teal"), "the variable's value is nowhere in Docker's view of the container");
    assert.equal(two.Config.User, "10001:10001");
    assert.equal(two.HostConfig.ReadonlyRootfs, true);

    const text = await metrics();
    assert.ok(metric(text, /^slipway_runtime_pool_takes_total\{runtime="node-20",outcome="hit"\} (\d+)$/m) >= 2, text);
    assert.match(text, /^slipway_runtime_start_seconds_count\{kind="pooled"\} [1-9]/m);
  });

  test("a pooled runtime that dies is found by its name and started again", async () => {
    const before = (await container(2))!;
    await docker.getContainer(before.Id).kill();
    await stack.emulator.waitFor(async () => {
      const now = await container(2);
      return now?.State.Running && now.Id !== before.Id && (await served()) === "two:teal" ? true : undefined;
    }, { timeoutMs: 120_000, intervalMs: 250 });
  });

  test("a retired pooled container is removed, not parked or given back to the pool", async () => {
    const one = (await container(1))?.Id;
    await stack.emulator.waitFor(async () => ((await container(1)) === null ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 });
    assert.ok(!(await members()).some((m) => m.Id === one), "v1's container is not an idle member again");
    assert.ok((await container(2))?.State.Running, "production's container runs");
  });
});
