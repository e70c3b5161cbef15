// Issue 2's promise, end to end on real parts: a signed push makes a Node function live
// through the gateway; a new push replaces it; a failing build leaves the old version
// serving and says why; forged and redelivered webhooks change nothing; a worker killed
// mid-build still ends with the deployment ready.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "acme";
const repoName = "edge-functions";
const slug = `hello~${repoName}~${owner}`;

const slipwayYml = `functions:
  - id: hello
    runtime: node-20
    root: functions/hello
    entrypoint: index.js
    commands: npm install
    execute: any
`;

const handler = (greeting: string) => `module.exports = async (context) => {
  context.log("serving " + context.req.path);
  return context.res.json({ greeting: ${JSON.stringify(greeting)}, path: context.req.path, query: context.req.query });
};
`;

const packageJson = JSON.stringify({ name: "hello", version: "1.0.0", private: true, dependencies: {} }, null, 2);

describe("push to live", { timeout: 15 * 60_000 }, () => {
  let stack: SlipwayStack;
  let repo: Awaited<ReturnType<SlipwayStack["emulator"]["createRepo"]>>;

  before(async () => {
    stack = await startSlipwayStack();
    repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 4242 });
  });

  after(async () => {
    if (stack) {
      assert.deepEqual(stack.emulator.validationErrors, [], "every request Slipway made matches GitHub's OpenAPI description");
      await stack.stop();
    }
  });

  async function push(files: Record<string, string | null>, message: string, deliveryId = randomUUID()) {
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message });
    const payload = pushPayload({ repo, before: commit.before, after: commit.sha, message });
    const response = await deliverWebhook({ url: stack.webhookUrl, event: "push", payload, secret: stack.webhookSecret, deliveryId });
    return { ...commit, payload, response, deliveryId };
  }

  async function completedRun(sha: string, name = "slipway / hello") {
    return stack.emulator.waitFor(
      () => stack.emulator.checkRuns(owner, repoName).find((run) => run.head_sha === sha && run.name === name && run.status === "completed"),
      { timeoutMs: 5 * 60_000, intervalMs: 250 },
    );
  }

  async function callFunction(path = "/") {
    const response = await fetch(`${stack.gatewayUrl}/fn/${slug}${path}`);
    return { status: response.status, body: await response.text(), headers: response.headers };
  }

  test("a signed push builds the function and serves it at its URL", async () => {
    const started = Date.now();
    const { sha, response } = await push(
      { "slipway.yml": slipwayYml, "functions/hello/index.js": handler("hello v1"), "functions/hello/package.json": packageJson },
      "first deploy",
    );
    assert.equal(response.status, 202, "answered once stored");
    assert.ok(Date.now() - started < 10_000);

    const created = await stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === sha), { timeoutMs: 30_000, intervalMs: 50 });
    const queued = stack.emulator.checkRunHistory(created.id);
    assert.equal(queued[0]!.status, "queued", "the check run is created queued once the push is handled");

    const run = await completedRun(sha);
    assert.equal(run.conclusion, "success", run.output?.summary ?? "");
    assert.match(run.output!.title!, /v1 is live/);
    assert.ok(run.output!.summary!.includes(`/fn/${slug}/`), "the summary carries the function's URL");
    assert.ok(run.output!.text!.length <= 65_535);

    const served = await callFunction("/greet?name=ada");
    assert.equal(served.status, 200);
    assert.deepEqual(JSON.parse(served.body), { greeting: "hello v1", path: "/greet", query: { name: "ada" } });

    const rows = await stack.db.query("select version, status, commit_sha, artifact_digest, artifact_size from deployments");
    assert.equal(rows.rowCount, 1);
    assert.equal(rows.rows[0].status, "ready");
    assert.equal(rows.rows[0].commit_sha, sha);
    assert.match(rows.rows[0].artifact_digest, /^sha256:[0-9a-f]{64}$/);
    assert.ok(Number(rows.rows[0].artifact_size) > 0);
  });

  test("a second push replaces the live version", async () => {
    const { sha } = await push({ "functions/hello/index.js": handler("hello v2") }, "second deploy");
    const run = await completedRun(sha);
    assert.equal(run.conclusion, "success", run.output?.summary ?? "");
    assert.match(run.output!.title!, /v2 is live/);
    const served = await callFunction("/");
    assert.equal(JSON.parse(served.body).greeting, "hello v2");
  });

  test("a failing build keeps the previous version serving and shows the error", async () => {
    const failing = JSON.stringify({
      name: "hello",
      version: "1.0.0",
      scripts: { build: "echo 'index.ts(3,7): error TS2322: Type string is not assignable to type number' >&2; exit 2" },
    });
    const yml = slipwayYml.replace("commands: npm install", "commands: npm install && npm run build");
    const { sha } = await push({ "slipway.yml": yml, "functions/hello/package.json": failing, "functions/hello/index.js": handler("broken v3") }, "break the build");
    const run = await completedRun(sha);
    assert.equal(run.conclusion, "failure");
    assert.match(run.output!.summary!, /npm install && npm run build/, "the summary names the failing command");
    assert.match(run.output!.text!, /error TS2322/, "the log tail shows the compiler's error");
    const served = await callFunction("/");
    assert.equal(JSON.parse(served.body).greeting, "hello v2", "v2 still serves");
    const status = await stack.db.query("select status, error from deployments where commit_sha = $1", [sha]);
    assert.equal(status.rows[0].status, "failed");
  });

  test("an invalid slipway.yml fails a check run that names the line", async () => {
    const bad = "functions:\n  - id: hello\n    runtime: cobol-85\n";
    const commit = await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": bad }, message: "bad config" });
    try {
      const payload = pushPayload({ repo, before: commit.before, after: commit.sha, message: "bad config" });
      await deliverWebhook({ url: stack.webhookUrl, event: "push", payload, secret: stack.webhookSecret });
      const run = await completedRun(commit.sha, "slipway / config");
      assert.equal(run.conclusion, "failure");
      assert.match(run.output!.summary!, /line 3/);
      assert.match(run.output!.summary!, /'cobol-85' is not a known runtime/);
      assert.match(run.output!.summary!, /node-20/, "the message says which runtimes exist");
      const annotations = stack.emulator.checkRun(run.id)!.annotations;
      assert.ok(annotations.some((a) => a.path === "slipway.yml" && a.start_line === 3), "an annotation points at the line");
    } finally {
      // Put a valid configuration back for the tests that follow.
      await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": slipwayYml, "functions/hello/package.json": packageJson }, message: "fix config" });
    }
  });

  test("a forged signature is rejected and nothing is enqueued", async () => {
    const before = await stack.db.query("select count(*)::int as n from deployments");
    const runsBefore = stack.emulator.checkRuns(owner, repoName).length;
    const commit = await stack.emulator.commit({ owner, repo: repoName, files: { "functions/hello/index.js": handler("forged") }, message: "forged" });
    const payload = pushPayload({ repo, before: commit.before, after: commit.sha, message: "forged" });
    const deliveryId = randomUUID();
    const response = await deliverWebhook({ url: stack.webhookUrl, event: "push", payload, secret: "not-the-secret", deliveryId });
    assert.ok(response.status >= 400 && response.status < 500, `forged webhook answered ${response.status}`);
    const unsigned = await deliverWebhook({ url: stack.webhookUrl, event: "push", payload, secret: stack.webhookSecret, signature: "" });
    assert.ok(unsigned.status >= 400 && unsigned.status < 500, `unsigned webhook answered ${unsigned.status}`);
    await new Promise((r) => setTimeout(r, 500));
    const afterCount = await stack.db.query("select count(*)::int as n from deployments");
    assert.equal(afterCount.rows[0].n, before.rows[0].n);
    assert.equal(stack.emulator.checkRuns(owner, repoName).length, runsBefore);
    const delivery = await stack.db.query("select 1 from webhook_deliveries where id = $1", [deliveryId]);
    assert.equal(delivery.rowCount, 0);
  });

  test("a redelivered webhook is a no-op", async () => {
    const first = await push({ "functions/hello/index.js": handler("hello v4") }, "deploy v4");
    const run = await completedRun(first.sha);
    assert.equal(run.conclusion, "success", run.output?.summary ?? "");
    const count = async () => (await stack.db.query("select count(*)::int as n from deployments")).rows[0].n as number;
    const deploymentsBefore = await count();
    const runsBefore = stack.emulator.checkRuns(owner, repoName).length;
    const again = await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: first.payload, secret: stack.webhookSecret, deliveryId: first.deliveryId });
    assert.equal(again.status, 202);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await count(), deploymentsBefore);
    assert.equal(stack.emulator.checkRuns(owner, repoName).length, runsBefore);
  });

  test("a worker killed mid-build is replaced and the deployment still ends ready", async () => {
    const slow = slipwayYml.replace("commands: npm install", "commands: npm install && sleep 6");
    const { sha } = await push({ "slipway.yml": slow, "functions/hello/index.js": handler("survivor v5") }, "slow build");
    await stack.emulator.waitFor(
      async () => (await stack.db.query("select 1 from deployments where commit_sha = $1 and status = 'building'", [sha])).rowCount === 1,
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    await new Promise((r) => setTimeout(r, 1500));
    await stack.kill("worker", "SIGKILL");
    await stack.spawnRole("worker");
    const run = await completedRun(sha);
    assert.equal(run.conclusion, "success", run.output?.summary ?? "");
    const row = await stack.db.query("select status, attempt from deployments where commit_sha = $1", [sha]);
    assert.equal(row.rows[0].status, "ready");
    assert.ok(row.rows[0].attempt >= 2, "the build was taken over by a second attempt");
    assert.equal(JSON.parse((await callFunction("/")).body).greeting, "survivor v5");
  });

  test("the gateway restores its routes from Postgres after a restart", async () => {
    await stack.kill("gateway", "SIGKILL");
    await stack.spawnRole("gateway");
    const served = await callFunction("/");
    assert.equal(served.status, 200);
    assert.equal(JSON.parse(served.body).greeting, "survivor v5");
  });

  test("no installation token appears in a git URL or a log", () => {
    const tokens: string[] = stack.emulator.tokensIssued.map((t: { token: string }) => t.token);
    assert.ok(tokens.length > 0);
    const logs = stack.logs();
    for (const token of tokens) {
      assert.ok(!logs.includes(token), "a token was logged");
      for (const request of stack.emulator.requests) assert.ok(!request.path.includes(token), "a token was in a URL");
    }
    assert.ok(stack.emulator.requests.some((r) => r.path.includes("git-upload-pack")), "the worker cloned over smart HTTP");
    assert.ok(!logs.includes((stack.env.PRIVATE_KEY as string).split("\n")[1]!), "the private key was logged");
  });
});
