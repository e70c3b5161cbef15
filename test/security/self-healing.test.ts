// Issue 13, self-healing runtimes: a routed runtime whose process exits is started again
// within seconds, without an activation or a gateway restart, and the restart is counted
// in the gateway's /metrics and logged with the function and version. One that hangs (its
// health check unanswered) is killed and started again.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "acme";
const repoName = "healing-fns";
const slug = `crasher~${repoName}~${owner}`;

const slipwayYml = `functions:
  - id: crasher
    runtime: node-20
    root: fn
    commands: "true"
    execute: any
`;

const handler = `module.exports = async (context) => {
  if (context.req.path === "/crash") process.exit(3);
  if (context.req.path === "/hang") for (;;) {}
  return context.res.json({ ok: true });
};
`;

async function restarts(gatewayUrl: string): Promise<number> {
  const text = await (await fetch(`${gatewayUrl}/metrics`)).text();
  return [...text.matchAll(/^slipway_runtime_restarts_total\{reason="[a-z_]+"\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
}

describe("self-healing runtimes", { timeout: 10 * 60_000 }, () => {
  let stack: SlipwayStack;

  before(async () => {
    stack = await startSlipwayStack();
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 7301 });
    const files = { "slipway.yml": slipwayYml, "fn/index.js": handler, "fn/package.json": JSON.stringify({ name: "fn", private: true }) };
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: "deploy" });
    const payload = pushPayload({ repo, before: commit.before, after: commit.sha, message: "deploy" });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload, secret: stack.webhookSecret, deliveryId: randomUUID() });
    await stack.emulator.waitFor(async () => (await fetch(`${stack.gatewayUrl}/fn/${slug}/`)).status === 200, { timeoutMs: 8 * 60_000, intervalMs: 500 });
  });

  after(async () => {
    if (stack) await stack.stop();
  });

  test("a runtime that exits is restarted within seconds, counted and logged", async () => {
    const before = await restarts(stack.gatewayUrl);
    assert.equal((await fetch(`${stack.gatewayUrl}/fn/${slug}/`)).status, 200);
    const crashed = await fetch(`${stack.gatewayUrl}/fn/${slug}/crash`).catch(() => null);
    assert.ok(!crashed || crashed.status >= 500, "the crashing call itself fails");
    await crashed?.arrayBuffer();

    const down = Date.now();
    await stack.emulator.waitFor(async () => (await fetch(`${stack.gatewayUrl}/fn/${slug}/`).catch(() => null))?.status === 200, { timeoutMs: 15_000, intervalMs: 200 });
    assert.ok(Date.now() - down < 15_000, "served again within 15 s");
    assert.ok((await restarts(stack.gatewayUrl)) > before, "the restart is counted in /metrics");
    const logged = stack.logs().split("\n").find((line) => line.includes("a runtime went down"));
    assert.ok(logged, "the restart is logged");
    const entry = JSON.parse(logged!) as { functionId?: string; version?: number; reason?: string; exitCode?: number };
    assert.ok(entry.functionId && entry.version === 1, `logged with function and version: ${logged}`);
    assert.equal(entry.reason, "exited");
    assert.equal(entry.exitCode, 3);

    // Again, at once: a second crash is healed too (after a short back-off).
    await fetch(`${stack.gatewayUrl}/fn/${slug}/crash`).then((r) => r.arrayBuffer()).catch(() => null);
    await stack.emulator.waitFor(async () => (await fetch(`${stack.gatewayUrl}/fn/${slug}/`).catch(() => null))?.status === 200, { timeoutMs: 15_000, intervalMs: 200 });
  });

  test("a runtime that stops answering its health check is killed and started again", async () => {
    // Not a widened timeout: the gateway kills a runtime only after six missed probes (5 s
    // apart, 5 s each), up to a minute by design, so the bound is two of those minutes.
    const hung = fetch(`${stack.gatewayUrl}/fn/${slug}/hang`, { signal: AbortSignal.timeout(150_000) }).then((r) => r.arrayBuffer()).catch(() => null);
    await stack.emulator.waitFor(() => stack.logs().includes('"reason":"unhealthy"'), { timeoutMs: 120_000, intervalMs: 500 });
    await stack.emulator.waitFor(async () => (await fetch(`${stack.gatewayUrl}/fn/${slug}/`).catch(() => null))?.status === 200, { timeoutMs: 15_000, intervalMs: 200 });
    assert.match(await (await fetch(`${stack.gatewayUrl}/metrics`)).text(), /^slipway_runtime_restarts_total\{reason="unhealthy"\} [1-9]/m);
    await hung;
  });
});
