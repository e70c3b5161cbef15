// Prometheus metrics from each role, after real work: a push built and served, a failing
// build, function-URL calls, and a webhook redelivered. With SLIPWAY_METRICS_TOKEN set,
// a scrape without the token is refused.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "metrics";
const repoName = "fleet";
const token = "metrics-token-for-tests-0123456789";
const yml = (commands: string) => `functions:\n  - id: api\n    runtime: node-20\n    root: api\n    commands: ${JSON.stringify(commands)}\n    execute: any\n`;
const handler = `module.exports = async (c) => c.res.text("counted");\n`;

/** One sample's value, or 0 when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    const match = /^([a-z_:]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = (match[2] ?? "").split(",");
    if (wanted.every((w) => have.includes(w))) return Number(match[3]);
  }
  return 0;
}

describe("metrics", { timeout: 10 * 60_000 }, () => {
  let stack: SlipwayStack;
  const scrape = async (url: string) => {
    const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(response.status, 200, url);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
    return response.text();
  };

  before(async () => {
    stack = await startSlipwayStack({ env: { SLIPWAY_METRICS_TOKEN: token } });
  });
  after(() => stack?.stop());

  test("the app, the gateway and a worker count deliveries, builds, activations, cold starts and calls; a scrape needs the token", async () => {
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 7301 });
    const push = async (files: Record<string, string>, message: string, deliveryId?: string) => {
      const commit = await stack.emulator.commit({ owner, repo: repoName, files, message });
      const payload = pushPayload({ repo, before: commit.before, after: commit.sha, message });
      const sent = await deliverWebhook({ url: stack.webhookUrl, event: "push", payload, secret: stack.webhookSecret, ...(deliveryId ? { deliveryId } : {}) });
      await stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === commit.sha && r.status === "completed"), { timeoutMs: 180_000, intervalMs: 200 });
      return { payload, deliveryId: sent.deliveryId };
    };
    const good = await push({ "slipway.yml": yml(""), "api/index.js": handler }, "good");
    await push({ "slipway.yml": yml("exit 3"), "api/index.js": `${handler}// broken\n` }, "broken");
    // GitHub redelivering the first push: recorded as a duplicate, nothing built.
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: good.payload, secret: stack.webhookSecret, deliveryId: good.deliveryId });
    for (let i = 0; i < 3; i++) assert.equal(await (await fetch(`${stack.gatewayUrl}/fn/api~${repoName}~${owner}/`)).text(), "counted");

    for (const url of [`${stack.appUrl}/metrics`, `${stack.gatewayUrl}/metrics`, stack.workerMetricsUrl()]) {
      const refused = await fetch(url);
      assert.equal(refused.status, 401, `${url} without the token`);
      assert.ok(!(await refused.text()).includes(token), "the token is never echoed");
    }

    const app = await scrape(`${stack.appUrl}/metrics`);
    assert.equal(sample(app, "slipway_webhook_deliveries_total", { event: "push", outcome: "processed" }), 2);
    assert.equal(sample(app, "slipway_webhook_deliveries_total", { event: "push", outcome: "duplicate" }), 1);
    assert.equal(sample(app, "slipway_deployments", { status: "ready" }), 1);
    assert.equal(sample(app, "slipway_deployments", { status: "failed" }), 1);
    assert.match(app, /^slipway_build_queue_jobs\{state="waiting"\} 0$/m);
    assert.match(app, /^slipway_process_resident_memory_bytes \d+/m, "process metrics too");

    // A build is counted when its worker is done with it, a moment after its check run ends.
    const worker = await stack.emulator.waitFor(async () => {
      const text = await scrape(stack.workerMetricsUrl());
      return sample(text, "slipway_builds_total", { runtime: "node-20", conclusion: "failure" }) >= 1 ? text : undefined;
    }, { timeoutMs: 10_000, intervalMs: 200 });
    assert.equal(sample(worker, "slipway_builds_total", { runtime: "node-20", conclusion: "success" }), 1);
    assert.equal(sample(worker, "slipway_builds_total", { runtime: "node-20", conclusion: "failure" }), 1);
    assert.equal(sample(worker, "slipway_build_duration_seconds_count", { runtime: "node-20", conclusion: "success" }), 1);

    // Function-URL calls are counted when recorded, a moment after they are served.
    const gateway = await stack.emulator.waitFor(async () => {
      const text = await scrape(`${stack.gatewayUrl}/metrics`);
      return sample(text, "slipway_executions_total", { trigger: "http", status: "completed" }) >= 3 ? text : undefined;
    }, { timeoutMs: 10_000, intervalMs: 200 });
    assert.equal(sample(gateway, "slipway_executions_total", { trigger: "http", status: "completed" }), 3);
    assert.equal(sample(gateway, "slipway_execution_duration_seconds_count", { trigger: "http" }), 3);
    assert.equal(sample(gateway, "slipway_activations_total", { outcome: "activated" }), 1);
    assert.equal(sample(gateway, "slipway_runtime_start_seconds_count", { kind: "created" }), 1, "one cold start");
    assert.equal(sample(gateway, "slipway_gateway_routes", { alias: "production" }), 1);
    assert.ok(!/api--fleet|fleet--metrics/.test(app + gateway + worker), "no function names in labels");
  });
});
