// Nothing is lost when a process dies or a call fails half-way. The app keeps every verified
// webhook until it has been handled and tries again by itself (GitHub never redelivers on
// its own): once when GitHub refused a call the handler made, once when the app was killed
// while handling the push; a report GitHub refused is sent again by the reporting outbox. A
// worker whose build is ready while the gateway is down waits for the gateway to come back
// and activates then.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "inbox";
const yml = "functions:\n  - id: api\n    runtime: node-20\n    root: api\n    commands: \"\"\n    execute: any\n";
const handler = (v: string) => `module.exports = async (c) => c.res.text(${JSON.stringify(v)});\n`;

describe("process deaths and failed calls", { timeout: 10 * 60_000 }, () => {
  let stack: SlipwayStack;

  before(async () => {
    stack = await startSlipwayStack({ env: { SLIPWAY_WEBHOOK_RETRY_SECONDS: "2" } });
  });
  after(() => stack?.stop());

  async function newRepo(name: string, installationId: number, config = yml) {
    const repo = await stack.emulator.createRepo({ owner, name, installationId });
    const commit = await stack.emulator.commit({ owner, repo: name, files: { "slipway.yml": config, "api/index.js": handler(`${name} live`) }, message: "functions" });
    const payload = pushPayload({ repo, before: commit.before, after: commit.sha, message: "functions" });
    return { commit, payload, served: async () => (await fetch(`${stack.gatewayUrl}/fn/api~${name}~${owner}/`)).text() };
  }

  const delivery = async (id: string) =>
    (await stack.db.query<{ status: string; attempts: number; last_error: string | null }>("select status, attempts, last_error from webhook_deliveries where id = $1", [id])).rows[0];

  test("a push GitHub's API refused while handling it, and whose check run GitHub refused, is retried by Slipway and deploys with one check run", async () => {
    const { commit, payload, served } = await newRepo("refused", 7101);
    // The handler's read of slipway.yml fails once (the delivery is retried), and so does the
    // reporter's creation of the check run (the report is retried).
    stack.emulator.injectFault({ operationId: "repos/get-content", times: 1, status: 422 });
    stack.emulator.injectFault({ operationId: "checks/create", times: 1, status: 422 });
    const sent = await deliverWebhook({ url: stack.webhookUrl, event: "push", payload, secret: stack.webhookSecret });
    assert.equal(sent.status, 202, "the delivery is stored, so GitHub is told it arrived");
    const failed = await stack.emulator.waitFor(async () => {
      const row = await delivery(sent.deliveryId);
      return row?.last_error ? row : undefined;
    }, { timeoutMs: 10_000, intervalMs: 50 });
    assert.equal(failed.attempts, 1);
    assert.match(failed.last_error!, /Server Error/);

    const run = await stack.emulator.waitFor(
      () => stack.emulator.checkRuns(owner, "refused").find((r) => r.head_sha === commit.sha && r.status === "completed"),
      { timeoutMs: 180_000, intervalMs: 200 },
    );
    assert.equal(run.conclusion, "success", run.output.summary ?? "");
    assert.equal(await served(), "refused live");
    assert.equal(stack.emulator.checkRuns(owner, "refused").filter((r) => r.head_sha === commit.sha).length, 1, "one check run");
    assert.equal((await stack.db.query("select 1 from deployments where commit_sha = $1", [commit.sha])).rowCount, 1, "one deployment");
    const done = await delivery(sent.deliveryId);
    assert.equal(done?.status, "processed");
    assert.equal(done?.attempts, 2);
    assert.match(stack.logs(), /webhook handling failed; it will be retried/);
    assert.match(stack.logs(), /could not report to GitHub; it will be tried again/);
  });

  test("a push the app was killed while handling is handled by the restarted app", async () => {
    const { commit, payload, served } = await newRepo("killed", 7102);
    // The app reads slipway.yml first; GitHub takes 10 s to answer, and the app dies meanwhile.
    stack.emulator.injectFault({ operationId: "repos/get-content", times: 1, delayMs: 10_000 });
    const deliveryId = crypto.randomUUID();
    const sent = await deliverWebhook({ url: stack.webhookUrl, event: "push", payload, secret: stack.webhookSecret, deliveryId });
    assert.equal(sent.status, 202, "answered once stored, before it is handled");
    await stack.emulator.waitFor(async () => (await delivery(deliveryId))?.attempts === 1, { timeoutMs: 10_000, intervalMs: 20 });
    await stack.kill("app", "SIGKILL");
    assert.equal((await delivery(deliveryId))?.status, "received");
    assert.equal(stack.emulator.checkRuns(owner, "killed").length, 0, "nothing was scheduled before the app died");

    await stack.spawnRole("app");
    const run = await stack.emulator.waitFor(
      () => stack.emulator.checkRuns(owner, "killed").find((r) => r.head_sha === commit.sha && r.status === "completed"),
      { timeoutMs: 180_000, intervalMs: 200 },
    );
    assert.equal(run.conclusion, "success", run.output.summary ?? "");
    assert.equal(await served(), "killed live");
    const done = await delivery(deliveryId);
    assert.equal(done?.status, "processed");
    assert.equal(done?.attempts, 2);

    // GitHub redelivering it now changes nothing.
    const again = await deliverWebhook({ url: stack.webhookUrl, event: "push", payload, secret: stack.webhookSecret, deliveryId });
    assert.equal(again.status, 202);
    assert.equal((await stack.db.query("select 1 from deployments where commit_sha = $1", [commit.sha])).rowCount, 1, "one deployment");
    assert.equal(stack.emulator.checkRuns(owner, "killed").filter((r) => r.head_sha === commit.sha).length, 1, "one check run");
  });

  test("a build that is ready while the gateway is down goes live once a new gateway is up", async () => {
    const { commit, payload, served } = await newRepo("gateway-down", 7103, yml.replace('commands: ""', 'commands: "sleep 3"'));
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload, secret: stack.webhookSecret });
    const status = async () => (await stack.db.query<{ status: string }>("select status from deployments where commit_sha = $1", [commit.sha])).rows[0]?.status;
    await stack.emulator.waitFor(async () => (await status()) === "building", { timeoutMs: 120_000, intervalMs: 100 });
    await stack.kill("gateway", "SIGKILL");
    await stack.emulator.waitFor(async () => (await status()) === "ready", { timeoutMs: 120_000, intervalMs: 100 });
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // a few refused activation attempts
    const run = () => stack.emulator.checkRuns(owner, "gateway-down").find((r) => r.head_sha === commit.sha)!;
    assert.notEqual(run().status, "completed", "the build is not reported before it is live");

    await stack.spawnRole("gateway");
    await stack.emulator.waitFor(() => run().status === "completed", { timeoutMs: 120_000, intervalMs: 200 });
    assert.equal(run().conclusion, "success", run().output.summary ?? "");
    assert.equal(await served(), "gateway-down live");
  });
});
