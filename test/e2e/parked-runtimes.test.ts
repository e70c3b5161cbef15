// Retired runtimes are parked: after the grace period a replaced version's container is
// stopped but kept (at most SLIPWAY_PARKED_RUNTIMES_PER_FUNCTION per function), so a
// rollback to it starts the same container again instead of making a new one. A parked
// container whose environment no longer matches (a variable changed) is replaced.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import { createApiToken } from "../../src/api/api-tokens.js";
import { putVariable } from "../../src/variables/variable-client.js";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const docker = new Docker();
const owner = "park";
const repoName = "lot";
const yml = 'functions:\n  - id: car\n    runtime: node-20\n    root: car\n    commands: ""\n    execute: any\n';
const handler = (v: string) => `module.exports = async (c) => c.res.text(${JSON.stringify(v)} + ":" + (process.env.COLOUR ?? "none"));\n`;

describe("parked runtimes", { timeout: 10 * 60_000 }, () => {
  let stack: SlipwayStack;
  let token = "";
  let functionId = "";
  const ids: Record<number, string> = {};

  const served = async () => (await fetch(`${stack.gatewayUrl}/fn/car~${repoName}~${owner}/`)).text();
  const container = (version: number) => docker.getContainer(`slipway-runtime-${ids[version]}`).inspect().catch(() => null);
  const switchTo = async (action: "rollback" | "promote", target: string) => {
    const response = await fetch(`${stack.appUrl}/v1/functions/${functionId}/${action}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ target }),
    });
    assert.equal(response.status, 200, await response.clone().text());
  };

  before(async () => {
    stack = await startSlipwayStack({ env: { SLIPWAY_ACTIVATION_GRACE_SECONDS: "2", SLIPWAY_PARKED_RUNTIMES_PER_FUNCTION: "1", SLIPWAY_MASTER_KEY: "cd".repeat(32) } });
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 7070 });
    for (const [index, version] of ["one", "two", "three"].entries()) {
      const commit = await stack.emulator.commit({ owner, repo: repoName, files: { ...(index === 0 ? { "slipway.yml": yml } : {}), "car/index.js": handler(version) }, message: version });
      await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: version }), secret: stack.webhookSecret });
      await stack.emulator.waitFor(async () => ((await served()) === `${version}:none` ? true : undefined), { timeoutMs: 180_000, intervalMs: 200 });
    }
    for (const row of (await stack.db.query("select id, version, function_id from deployments")).rows) {
      ids[row.version as number] = row.id as string;
      functionId = row.function_id as string;
    }
    token = (await createApiToken(stack.db, { name: "parking", kind: "server" })).token;
  });

  after(async () => {
    if (stack) await stack.stop();
  });

  test("a retired version's container is stopped and kept, and only the newest parked one per function stays", async () => {
    await stack.emulator.waitFor(async () => {
      const [one, two] = await Promise.all([container(1), container(2)]);
      return one === null && two !== null && !two.State.Running ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    assert.ok((await container(3))?.State.Running, "production's container runs");
  });

  test("a rollback to a parked version starts the same container again", async () => {
    const parked = (await container(2))!;
    await switchTo("rollback", "v2");
    assert.equal(await served(), "two:none");
    const now = (await container(2))!;
    assert.equal(now.Id, parked.Id, "the parked container was started, not replaced");
    assert.ok(now.State.Running);
  });

  test("a parked container whose environment changed is replaced, and the new value is served", async () => {
    await stack.emulator.waitFor(async () => {
      const three = await container(3);
      return three && !three.State.Running ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    const parked = (await container(3))!;
    await putVariable(stack.appUrl, token, functionId, "COLOUR", "teal");
    await switchTo("promote", "v3");
    assert.equal(await served(), "three:teal");
    const now = (await container(3))!;
    assert.notEqual(now.Id, parked.Id, "a container made with the old environment is not reused");
    assert.ok(!JSON.stringify(now.Config.Labels).includes("teal"), "labels carry a keyed digest, not values");
  });

  test("a prewarm (sent while GitHub is asked for a commenter's permission) starts a container without routing to it", async () => {
    assert.equal(await container(1), null, "v1 has no container left");
    const prewarm = (authorization?: string) =>
      fetch(`${stack.gatewayUrl}/v1/prewarm`, { method: "POST", headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) }, body: JSON.stringify({ deploymentId: ids[1] }) });
    assert.equal((await prewarm()).status, 401);
    assert.equal((await prewarm(`Bearer ${stack.gatewaySecret}`)).status, 202);
    await stack.emulator.waitFor(async () => ((await container(1))?.State.Running ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
    assert.equal(await served(), "three:teal", "nothing was routed to it");
    await stack.emulator.waitFor(async () => {
      const one = await container(1);
      return one && !one.State.Running ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250 });
  });
});
