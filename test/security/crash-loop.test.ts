// Issue 13, self-healing runtimes, last clause: a crash loop is reported. A function whose
// runtime exits at every start (test/fixtures/crash-looping-function.ts) is restarted with a growing delay, and the REST API the dashboard reads
// says so: crash-looping, with the exit code, the count and the next try. A healthy function
// beside it is not reported, and activating a fixed version ends the report. One crash is a
// restart, not a crash loop, and its report goes once the runtime has stayed up a minute.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { createApiToken } from "../../src/api/api-tokens.js";
import type { RuntimeHealth } from "../../src/store/runtime-health.js";
import { crashLoopExitCode, crashLoopingFunctionFiles, crashLoopingFunctionYml } from "../fixtures/crash-looping-function.js";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "acme";
const repoName = "looping-fns";

const slipwayYml = `functions:
${crashLoopingFunctionYml("looper", "looper")}  - id: steady
    runtime: node-20
    root: steady
    commands: "true"
    execute: any
`;

const fixedLooper = `module.exports = async (context) => {
  if (context.req.path === "/crash") process.exit(5);
  return context.res.json({ ok: true, version: 2 });
};
`;
const steady = `module.exports = async (context) => context.res.json({ ok: true });\n`;

type ListedFunction = { id: string; name: string; url: string; aliases: { alias: string; deploymentId: string; version: number }[]; runtimeHealth: RuntimeHealth[] };
type ListedDeployment = { id: string; version: number; runtimeHealth: RuntimeHealth | null };

describe("a crash-looping runtime is reported through the API", { timeout: 12 * 60_000 }, () => {
  let stack: SlipwayStack;
  let token: string;
  let repo: Awaited<ReturnType<SlipwayStack["emulator"]["createRepo"]>>;

  async function api<T>(path: string): Promise<T> {
    const response = await fetch(`${stack.appUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(response.status, 200, `${path}: ${response.status}`);
    return (await response.json()) as T;
  }
  const listed = async (name: string) => (await api<{ functions: ListedFunction[] }>(`/v1/functions?repo=${owner}/${repoName}`)).functions.find((f) => f.name === name)!;
  const deploymentsOf = async (fn: ListedFunction) => (await api<{ deployments: ListedDeployment[] }>(`/v1/deployments?functionId=${fn.id}`)).deployments;
  const urlOf = (fn: ListedFunction, path = "") => new URL(path, fn.url.endsWith("/") ? fn.url : `${fn.url}/`);
  const answers = async (fn: ListedFunction) => (await fetch(urlOf(fn)).catch(() => null))?.status === 200;

  async function push(files: Record<string, string>, message: string): Promise<string> {
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message }), secret: stack.webhookSecret, deliveryId: randomUUID() });
    return commit.sha;
  }

  before(async () => {
    stack = await startSlipwayStack();
    repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 7302 });
    token = (await createApiToken(stack.db, { name: "operator", kind: "server" })).token;
    await push({ "slipway.yml": slipwayYml, ...crashLoopingFunctionFiles("looper"), "steady/index.js": steady }, "deploy");
    await stack.emulator.waitFor(
      async () => {
        const [a, b] = await Promise.all([listed("looper"), listed("steady")]);
        return a?.aliases.some((x) => x.alias === "production") && b?.aliases.some((x) => x.alias === "production") && (await answers(a)) && (await answers(b));
      },
      { timeoutMs: 8 * 60_000, intervalMs: 500, describe: () => stack.logs().slice(-4000) },
    );
  });

  after(async () => {
    if (process.env.SLIPWAY_TEST_LOG_FILE && stack) (await import("node:fs")).writeFileSync(process.env.SLIPWAY_TEST_LOG_FILE, stack.logs());
    if (stack) await stack.stop();
  });

  test("a function that exits at every start is reported as crash-looping, with its exit code; a healthy one is not", async () => {
    const before = await listed("looper");
    assert.deepEqual(before.runtimeHealth, [], "healthy before it breaks");
    const production = before.aliases.find((a) => a.alias === "production")!;
    await fetch(urlOf(before, "break")).then((r) => r.arrayBuffer()).catch(() => null);

    // Down, then restarted at once, after 1 s, after 2 s: the third is a crash loop.
    const fn = await stack.emulator.waitFor(
      async () => {
        const current = await listed("looper");
        return current.runtimeHealth.some((h) => h.crashLooping) ? current : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 500, describe: () => stack.logs().slice(-4000) },
    );
    assert.equal(fn.runtimeHealth.length, 1);
    const health = fn.runtimeHealth[0]!;
    assert.equal(health.deploymentId, production.deploymentId);
    assert.equal(health.version, 1);
    assert.deepEqual(health.aliases, ["production"]);
    assert.equal(health.lastExitCode, crashLoopExitCode, `the exit code of the start that failed: ${JSON.stringify(health)}`);
    assert.ok(health.restarts >= 3, `three restarts or more: ${health.restarts}`);
    assert.ok(["exited", "start_failed"].includes(health.lastReason));
    assert.equal(typeof health.nextRestartInSeconds, "number");
    assert.ok(Date.parse(String(health.firstRestartAt)) <= Date.parse(String(health.lastRestartAt)));

    // The deployment view says it too.
    const [v1] = await deploymentsOf(fn);
    assert.equal(v1!.id, production.deploymentId);
    assert.equal(v1!.runtimeHealth?.crashLooping, true);
    assert.equal(v1!.runtimeHealth?.lastExitCode, crashLoopExitCode);
    const one = await api<ListedDeployment>(`/v1/deployments/${production.deploymentId}`);
    assert.equal(one.runtimeHealth?.crashLooping, true);

    const healthy = await listed("steady");
    assert.deepEqual(healthy.runtimeHealth, [], "the healthy function is not reported");
    assert.equal((await deploymentsOf(healthy))[0]!.runtimeHealth, null);
    assert.ok(await answers(healthy), "and it still serves");

    const metrics = await (await fetch(`${stack.gatewayUrl}/metrics`)).text();
    assert.match(metrics, /^slipway_runtimes_crash_looping [1-9]/m);
    assert.ok(stack.logs().split("\n").some((line) => line.includes("a runtime is crash-looping") && line.includes(`"exitCode":${crashLoopExitCode}`)), "logged with its exit code");
  });

  test("activating a fixed version ends the report", async () => {
    const broken = (await listed("looper")).aliases.find((a) => a.alias === "production")!;
    const sha = await push({ "looper/index.js": fixedLooper }, "fix the looper");
    await stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === sha && r.conclusion === "success"), {
      timeoutMs: 5 * 60_000,
      intervalMs: 500,
      describe: () => stack.logs().slice(-4000),
    });
    const fn = await stack.emulator.waitFor(
      async () => {
        const current = await listed("looper");
        return current.aliases.find((a) => a.alias === "production")?.version === 2 ? current : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    assert.deepEqual(fn.runtimeHealth, [], "the function is no longer reported once v2 serves");
    assert.deepEqual(await (await fetch(urlOf(fn))).json(), { ok: true, version: 2 });
    // The gateway forgets v1's restarts once it no longer serves it (at its next probe, 5 s apart).
    await stack.emulator.waitFor(async () => (await deploymentsOf(fn)).find((d) => d.id === broken.deploymentId)?.runtimeHealth === null, { timeoutMs: 120_000, intervalMs: 500 });
  });

  test("one crash is reported as a restart, not a crash loop, until the runtime has stayed up a minute", async () => {
    const fn = await listed("looper");
    await fetch(urlOf(fn, "crash")).then((r) => r.arrayBuffer()).catch(() => null);
    const restarted = await stack.emulator.waitFor(async () => (await listed("looper")).runtimeHealth[0], { timeoutMs: 60_000, intervalMs: 500 });
    assert.equal(restarted.crashLooping, false);
    assert.equal(restarted.restarts, 1);
    assert.equal(restarted.lastExitCode, 5);
    assert.equal(restarted.version, 2);
    await stack.emulator.waitFor(() => answers(fn), { timeoutMs: 60_000, intervalMs: 500 });
    // A minute of uptime, then the next health probe (5 s apart) clears it.
    await stack.emulator.waitFor(async () => (await listed("looper")).runtimeHealth.length === 0, { timeoutMs: 240_000, intervalMs: 1000 });
    assert.equal((await deploymentsOf(fn))[0]!.runtimeHealth, null);
  });
});
