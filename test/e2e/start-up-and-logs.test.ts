// Issue 17's start-up and logs, read from the processes' own output as an operator reads it:
// the banner names every address and the next step; /readyz says which dependency is down
// while /healthz stays liveness; the JSON stream holds one object a line with no duplicate
// keys and no stray warning; every line about a deployment names its function, version and
// repository; a failed build is logged with its reason; a rollback, a promote and an unpin
// are logged with their actor and channel; a forged webhook is one line; and on a terminal
// the lines are pretty-printed instead.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { createApiToken } from "../../src/api/api-tokens.js";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { freePort, startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const slipwayBin = fileURLToPath(new URL("../../bin/slipway.js", import.meta.url));
const owner = "logco";
const repoName = "logged";

const slipwayYml = (commands: string) => `functions:
  - id: hello
    runtime: node-20
    root: functions/hello
    commands: ${commands}
    # A glob that is not a plain folder/**, so changed paths go through the glob matcher.
    watch: ["functions/hello/*.{js,json}", slipway.yml]
`;
const handler = (greeting: string) => `module.exports = async (context) => context.res.json({ greeting: ${JSON.stringify(greeting)} });\n`;
const packageJson = JSON.stringify({ name: "hello", version: "1.0.0", private: true });

/** The top-level keys of a JSON object text, in order, duplicates kept (JSON.parse drops them). */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (depth === 1 && expectKey) keys.push(JSON.parse(text.slice(i, j + 1)) as string);
      expectKey = false;
      i = j;
    } else if (c === "{" || c === "[") {
      depth++;
      expectKey = c === "{" && depth === 1;
    } else if (c === "}" || c === "]") depth--;
    else if (c === "," && depth === 1) expectKey = true;
  }
  return keys;
}

type LogLine = Record<string, unknown> & { msg?: string };

describe("start-up and logs", { timeout: 15 * 60_000 }, () => {
  let stack: SlipwayStack;
  let repo: Awaited<ReturnType<SlipwayStack["emulator"]["createRepo"]>>;

  before(async () => {
    stack = await startSlipwayStack({ env: { SLIPWAY_LOG_FORMAT: "auto" } });
    repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 6161 });
  });

  after(async () => {
    if (stack) await stack.stop();
  });

  const jsonLines = (): LogLine[] =>
    stack
      .logs()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .flatMap((line) => {
        // Several processes write into one log; a line cut by another's chunk is skipped.
        try {
          return [JSON.parse(line) as LogLine];
        } catch {
          return [];
        }
      });

  async function push(files: Record<string, string | null>, message: string) {
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message });
    const sent = await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message }), secret: stack.webhookSecret });
    assert.equal(sent.status, 202);
    return stack.emulator.waitFor(
      () => stack.emulator.checkRuns(owner, repoName).find((run) => run.head_sha === commit.sha && run.name === "slipway / hello" && run.status === "completed"),
      { timeoutMs: 5 * 60_000, intervalMs: 250 },
    );
  }

  async function waitForLine(predicate: (line: LogLine) => boolean): Promise<LogLine> {
    return stack.emulator.waitFor(() => jsonLines().find(predicate), { timeoutMs: 60_000, intervalMs: 100 });
  }

  test("the banner names every address and the next step", () => {
    const logs = stack.logs();
    assert.ok(logs.includes(`  dashboard  ${stack.appUrl}/dashboard\n`), logs);
    assert.ok(logs.includes(`  webhook    ${stack.appUrl}/api/github/webhooks\n`));
    assert.ok(logs.includes(`  API        ${stack.appUrl}/v1 (described at ${stack.appUrl}/v1/openapi.json)\n`));
    assert.ok(logs.includes(`  functions  ${stack.gatewayUrl}/fn/<function>~<repo>~<owner>/\n`), "the gateway's banner names the function URLs");
    assert.match(logs, /next: create an API token: `slipway token create --name <you>`/);
    assert.equal(jsonLines().filter((l) => l.msg === "slipway started").length, 3, "one structured start line per process");
  });

  test("/readyz checks each dependency and says which is down; /healthz stays liveness", async () => {
    const app = await fetch(`${stack.appUrl}/readyz`);
    const appBody = (await app.json()) as { ready: boolean; checks: Record<string, string> };
    assert.equal(app.status, 200, JSON.stringify(appBody));
    assert.deepEqual(appBody.checks, { postgres: "ok", redis: "ok", gateway: "ok" });
    const gateway = await fetch(`${stack.gatewayUrl}/readyz`);
    const gatewayBody = (await gateway.json()) as { checks: Record<string, string> };
    assert.equal(gateway.status, 200, JSON.stringify(gatewayBody));
    assert.deepEqual(gatewayBody.checks, { postgres: "ok", redis: "ok", docker: "ok", "data plane": "ok", "node id": "ok" });

    // A second app whose gateway is not there: alive, not ready, and it says why.
    const port = await freePort();
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const child = spawn(process.execPath, [slipwayBin, "app"], { env: { ...stack.env, SLIPWAY_APP_PORT: String(port), SLIPWAY_GATEWAY_URL: nowhere }, stdio: "ignore" });
    try {
      await stack.emulator.waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok || undefined, { timeoutMs: 60_000, intervalMs: 100 });
      const down = await fetch(`http://127.0.0.1:${port}/readyz`);
      const body = (await down.json()) as { ready: boolean; down: string[]; checks: Record<string, string> };
      assert.equal(down.status, 503);
      assert.deepEqual(body.down, ["gateway"]);
      assert.match(body.checks.gateway!, new RegExp(`^cannot reach the gateway at SLIPWAY_GATEWAY_URL=${nowhere}`));
    } finally {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
  });

  test("a forged webhook is one line, and no JSON line repeats a key", async () => {
    const forged = await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: { zen: "x" }, secret: "not-the-secret" });
    assert.equal(forged.status, 401);
    await waitForLine((l) => l.deliveryId === forged.deliveryId);
    const lines = stack.logs().split("\n").filter((line) => line.includes(forged.deliveryId));
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0]!, /webhook refused: its signature does not match the webhook secret/);
    for (const line of stack.logs().split("\n").filter((l) => l.startsWith("{") && l.endsWith("}"))) {
      const keys = topLevelKeys(line);
      assert.equal(new Set(keys).size, keys.length, `duplicate keys in ${line}`);
    }
  });

  test("deployment lines name function, version and repository; failures, rollbacks, promotes and unpins are logged", async () => {
    const first = await push({ "slipway.yml": slipwayYml("npm install"), "functions/hello/index.js": handler("v1"), "functions/hello/package.json": packageJson }, "v1");
    assert.equal(first.conclusion, "success");
    const second = await push({ "functions/hello/index.js": handler("v2") }, "v2");
    assert.equal(second.conclusion, "success");
    const broken = await push({ "slipway.yml": slipwayYml("echo 'the build broke here' >&2 && exit 3") }, "v3 breaks");
    assert.equal(broken.conclusion, "failure");

    const names = { function: "hello", repository: `${owner}/${repoName}` };
    const failed = await waitForLine((l) => l.msg === "build failed");
    assert.deepEqual({ function: failed.function, version: failed.version, repository: failed.repository }, { ...names, version: "v3" });
    assert.match(String(failed.reason), /exit/i, "the reason is logged");
    const ready = await waitForLine((l) => l.msg === "deployment ready" && l.version === "v2");
    assert.equal(ready.repository, names.repository);
    const activated = await waitForLine((l) => l.msg === "activated" && l.version === "v2");
    assert.equal(activated.function, "hello");

    const { token } = await createApiToken(stack.db, { name: "ops-ana", kind: "server" });
    const functionId = (await stack.db.query<{ id: string }>("select id from functions where name = 'hello'")).rows[0]!.id;
    const call = async (action: string, body: unknown = {}) => {
      const response = await fetch(`${stack.appUrl}/v1/functions/${functionId}/${action}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
      assert.equal(response.status, 200, await response.clone().text());
    };
    await call("rollback");
    const rolledBack = await waitForLine((l) => l.msg === "production rolled back");
    assert.deepEqual(
      { function: rolledBack.function, version: rolledBack.version, repository: rolledBack.repository, actor: rolledBack.actor, via: rolledBack.via },
      { ...names, version: "v1", actor: "ops-ana", via: "api" },
    );
    await call("unpin");
    const unpinned = await waitForLine((l) => l.msg === "production unpinned: pushes go live again");
    assert.deepEqual({ actor: unpinned.actor, via: unpinned.via, version: unpinned.version }, { actor: "ops-ana", via: "api", version: "v1" });
    await call("promote", { target: "v2" });
    const promoted = await waitForLine((l) => l.msg === "production promoted");
    assert.deepEqual({ version: promoted.version, actor: promoted.actor, via: promoted.via, fromVersion: promoted.fromVersion }, { version: "v2", actor: "ops-ana", via: "api", fromVersion: "v1" });
    const switchedByGateway = await waitForLine((l) => l.msg === "activated" && l.action === "promote");
    assert.equal(switchedByGateway.actor, "ops-ana");

    // Everything the worker and the gateway said about a deployment names it.
    for (const line of jsonLines().filter((l) => typeof l.deploymentId === "string" && (l.component === "worker" || l.component === "gateway"))) {
      if (line.msg === "stopped a deployment after its grace period" || line.msg === "could not prewarm a deployment") continue;
      assert.ok(line.function && line.version && line.repository, `a deployment line without its names: ${JSON.stringify(line)}`);
    }
    assert.ok(!stack.logs().includes("ExperimentalWarning"), "no experimental warning in the output");
  });

  test("on a terminal the lines are pretty-printed, not JSON", async () => {
    const port = await freePort();
    const env = { ...stack.env, SLIPWAY_GATEWAY_PORT: String(port), SLIPWAY_DATA_PLANE: "node", SLIPWAY_QUEUE_PREFIX: `${stack.env.SLIPWAY_QUEUE_PREFIX}-tty`, TERM: "dumb" };
    // script(1) gives the process a pseudo-terminal for its stdout.
    const child = spawn("script", ["-qefc", `${process.execPath} ${slipwayBin} gateway`, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    try {
      await stack.emulator.waitFor(() => (output.includes("slipway started") ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
      assert.match(output, /INFO.*slipway started/);
      assert.ok(!output.split(/\r?\n/).some((line) => line.startsWith('{"level"')), output);
    } finally {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
  });
});
