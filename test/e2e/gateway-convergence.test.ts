// Issue 15, item 3: gateway nodes converge on the desired state in Postgres. Two gateways
// share one database and one queue prefix. A change no gateway is told of is served by
// both within seconds (their timers); a switch waits for a paused gateway and names it, and
// that gateway serves the switch within seconds of resuming; schedules lost from Redis (one,
// or every key of this stack's prefix) come back from Postgres; a queued execution records
// the node that runs it, and another node neither runs it again while that node is paused
// nor after it is killed.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Queue } from "bullmq";
import Docker from "dockerode";
import { Redis } from "ioredis";
import { createApiToken } from "../../src/api/api-tokens.js";
import { executionJobId, executionQueueName, scheduleQueueName, scheduleSchedulerId } from "../../src/executions/execution-queues.js";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "acme";
const repoName = "converge";
const slug = `conv~${repoName}~${owner}`;
const schedule = "17 3 * * *";

const slipwayYml = `functions:
  - id: conv
    runtime: node-20
    root: fn
    commands: "true"
    execute: any
    timeout: 60
    schedule: "${schedule}"
`;

const handler = (version: string) => `module.exports = async (context) => {
  const id = context.req.headers["x-slipway-execution-id"];
  if (context.req.path === "/slow") {
    context.log("ran " + id);
    await new Promise((resolve) => setTimeout(resolve, 12000));
  }
  return context.res.json({ version: ${JSON.stringify(version)} });
};
`;

describe("gateways converge on the desired state", { timeout: 20 * 60_000 }, () => {
  let stack: SlipwayStack;
  let server: string;
  let functionId: string;
  let redis: Redis;
  const versions: Record<string, string> = {};

  async function push(repo: Awaited<ReturnType<SlipwayStack["emulator"]["createRepo"]>>, version: string) {
    const commit = await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": slipwayYml, "fn/index.js": handler(version) }, message: version });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: version }), secret: stack.webhookSecret, deliveryId: randomUUID() });
    const row = await stack.emulator.waitFor(
      async () =>
        (await stack.db.query<{ id: string; function_id: string }>("select d.id, d.function_id from deployments d join aliases a on a.deployment_id = d.id where a.name = 'production' and d.commit_sha = $1", [commit.sha])).rows[0],
      { timeoutMs: 8 * 60_000, intervalMs: 500, describe: () => stack.logs().slice(-4000) },
    );
    versions[version] = row.id;
    functionId = row.function_id;
  }

  const versionAt = async (gatewayUrl: string): Promise<string | undefined> => {
    const response = await fetch(`${gatewayUrl}/fn/${slug}/`).catch(() => null);
    if (response?.status !== 200) return undefined;
    return ((await response.json()) as { version: string }).version;
  };
  const serves = (gatewayUrl: string, version: string, timeoutMs = 20_000) =>
    stack.emulator.waitFor(async () => (await versionAt(gatewayUrl)) === version || undefined, { timeoutMs, intervalMs: 250, message: `${gatewayUrl} serves ${version}`, describe: () => stack.logs().slice(-3000) });

  /** gateway_nodes.id of the gateway at this URL (its port is in the node's URL). */
  async function nodeIdOf(gatewayUrl: string): Promise<string> {
    const port = new URL(gatewayUrl).port;
    const rows = (await stack.db.query<{ id: string; url: string }>("select id, url from gateway_nodes")).rows;
    const row = rows.find((r) => new URL(r.url).port === port);
    assert.ok(row, `a node registered for port ${port}: ${JSON.stringify(rows)}`);
    return row.id;
  }

  before(async () => {
    stack = await startSlipwayStack({
      extraGateways: 1,
      env: {
        SLIPWAY_ROUTE_RECONCILE_SECONDS: "2",
        SLIPWAY_ROUTE_CONFIRM_SECONDS: "5",
        // Live for a while after a pause, so a switch meanwhile waits for the paused node.
        SLIPWAY_GATEWAY_NODE_TTL_SECONDS: "60",
        SLIPWAY_GATEWAY_NODE_LOST_SECONDS: "60",
        SLIPWAY_SCHEDULE_RECONCILE_SECONDS: "2",
        SLIPWAY_WORKER_LOCK_SECONDS: "4",
      },
    });
    server = (await createApiToken(stack.db, { name: "operator", kind: "server" })).token;
    redis = new Redis(stack.env.REDIS_URL!, { maxRetriesPerRequest: null });
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 9191 });
    await push(repo, "v1");
    await push(repo, "v2");
    for (const url of stack.gatewayUrls) await serves(url, "v2");
  });

  after(async () => {
    if (process.env.SLIPWAY_TEST_LOG_FILE && stack) (await import("node:fs")).writeFileSync(process.env.SLIPWAY_TEST_LOG_FILE, stack.logs());
    redis?.disconnect();
    if (stack) await stack.stop();
  });

  test("every gateway registers as a live node and reports the route revision it serves", async () => {
    const nodes = (await stack.db.query<{ id: string; served_revision: string }>("select id, served_revision from gateway_nodes where last_seen > now() - interval '30 seconds'")).rows;
    assert.equal(nodes.length, 2, JSON.stringify(nodes));
    const revision = Number((await stack.db.query<{ revision: string }>("select revision from route_revision")).rows[0]!.revision);
    await stack.emulator.waitFor(
      async () => (await stack.db.query<{ n: number }>("select count(*)::int as n from gateway_nodes where served_revision >= $1", [revision])).rows[0]!.n === 2 || undefined,
      { timeoutMs: 20_000, intervalMs: 250, message: "both nodes serve the current revision" },
    );
  });

  test("a change no gateway was told of is served by every gateway within seconds", async () => {
    // Straight into Postgres: no activation, no hint over Redis.
    await stack.db.query("update aliases set deployment_id = $1 where function_id = $2 and name = 'production'", [versions.v1, functionId]);
    for (const url of stack.gatewayUrls) await serves(url, "v1");
    await stack.db.query("update aliases set deployment_id = $1 where function_id = $2 and name = 'production'", [versions.v2, functionId]);
    for (const url of stack.gatewayUrls) await serves(url, "v2");
  });

  test("a switch waits for a paused gateway and names it; resumed, it serves the switch within seconds", async () => {
    const pausedUrl = stack.gatewayUrls[1]!;
    const pausedNode = await nodeIdOf(pausedUrl);
    stack.signal("gateway-2", "SIGSTOP");
    try {
      const response = await fetch(`${stack.gatewayUrl}/v1/activations`, {
        method: "POST",
        headers: { authorization: `Bearer ${stack.gatewaySecret}`, "content-type": "application/json" },
        body: JSON.stringify({ deploymentId: versions.v1, alias: "production", pin: true, action: "rollback", via: "api" }),
      });
      assert.equal(response.status, 200, await response.clone().text());
      const result = (await response.json()) as { activated: boolean; unconfirmedGateways?: string[]; laggingGateways?: { id: string; reason: string }[] };
      assert.equal(result.activated, true);
      assert.deepEqual(result.laggingGateways?.map((l) => l.id), [pausedNode], JSON.stringify(result));
      assert.match(result.laggingGateways![0]!.reason, /^serves route revision \d+, not yet \d+$/);
      assert.match(result.unconfirmedGateways![0]!, new RegExp(`^${pausedNode.replace(/[.]/g, "\\.")} at http://`));
      assert.equal(await versionAt(stack.gatewayUrl), "v1", "the gateway that answered serves the switch");
    } finally {
      stack.signal("gateway-2", "SIGCONT");
    }
    await serves(pausedUrl, "v1");
  });

  test("a schedule lost from Redis, and every key of this stack's prefix, come back from Postgres", async () => {
    const prefix = stack.env.SLIPWAY_QUEUE_PREFIX!;
    const schedules = new Queue(scheduleQueueName, { connection: redis, prefix });
    try {
      const registered = () => schedules.getJobScheduler(scheduleSchedulerId(functionId));
      const back = (message: string) =>
        stack.emulator.waitFor(async () => ((await registered())?.pattern === schedule ? true : undefined), { timeoutMs: 30_000, intervalMs: 250, message, describe: () => stack.logs().slice(-3000) });
      await back("the production schedule is registered");
      // One scheduler lost (the sweeper's is still there, so nothing else notices).
      await schedules.removeJobScheduler(scheduleSchedulerId(functionId));
      assert.equal(await registered(), undefined);
      await back("the lost schedule came back");
      // Every key of this stack (Redis is shared: never FLUSHALL).
      let cursor = "0";
      let deleted = 0;
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
        cursor = next;
        if (keys.length) deleted += await redis.unlink(...keys);
      } while (cursor !== "0");
      assert.ok(deleted > 0, "the stack had keys under its prefix");
      await back("the schedule came back after the prefix was emptied");
    } finally {
      await schedules.close();
    }
  });

  async function runSlowOn(ownerName: "gateway" | "gateway-2", otherName: "gateway" | "gateway-2") {
    const ownerUrl = stack.gatewayUrls[ownerName === "gateway" ? 0 : 1]!;
    // Only the owner consumes while the other is paused, so the owner claims the execution.
    stack.signal(otherName, "SIGSTOP");
    let execution: { id: string };
    try {
      const response = await fetch(`${ownerUrl}/v1/functions/${functionId}/executions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${server}` },
        body: JSON.stringify({ async: true, path: "/slow" }),
      });
      assert.equal(response.status, 202, await response.clone().text());
      execution = (await response.json()) as { id: string };
      await stack.emulator.waitFor(
        async () => (await stack.db.query("select 1 from executions where id = $1 and status = 'processing'", [execution.id])).rowCount === 1 || undefined,
        { timeoutMs: 30_000, intervalMs: 100, message: "the execution is processing", describe: () => stack.logs().slice(-3000) },
      );
    } finally {
      stack.signal(otherName, "SIGCONT");
    }
    const row = (await stack.db.query<{ node_id: string }>("select node_id from executions where id = $1", [execution.id])).rows[0]!;
    assert.equal(row.node_id, await nodeIdOf(ownerUrl), "the execution records the node that runs it");
    return execution.id;
  }

  /** Until the other gateway has taken the stalled job back and let it be. */
  async function jobHandedBack(executionId: string, ownerNode: string) {
    const executions = new Queue(executionQueueName, { connection: redis, prefix: stack.env.SLIPWAY_QUEUE_PREFIX! });
    try {
      await stack.emulator.waitFor(
        async () => ((await executions.getJob(executionJobId(executionId)))?.returnvalue === `processing on ${ownerNode}` ? true : undefined),
        { timeoutMs: 60_000, intervalMs: 250, message: "another gateway took the stalled job and left the execution to its node", describe: () => stack.logs().slice(-3000) },
      );
    } finally {
      await executions.close();
    }
  }

  async function runsOf(executionId: string): Promise<number> {
    const production = (await stack.db.query<{ deployment_id: string }>("select deployment_id from aliases where function_id = $1 and name = 'production'", [functionId])).rows[0]!;
    const container = new Docker().getContainer(`slipway-runtime-${production.deployment_id}`);
    const exec = await container.exec({ Cmd: ["sh", "-c", "cat /mnt/logs/*_logs.log 2>/dev/null; true"], AttachStdout: true, AttachStderr: true, Tty: true });
    const stream = await exec.start({ Tty: true });
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve) => {
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", resolve);
    });
    return [...Buffer.concat(chunks).toString("utf8").matchAll(new RegExp(`ran ${executionId}`, "g"))].length;
  }

  test("a queued execution whose node is paused is not run by another node: the node finishes it when it resumes", async () => {
    const executionId = await runSlowOn("gateway-2", "gateway");
    const ownerNode = await nodeIdOf(stack.gatewayUrls[1]!);
    stack.signal("gateway-2", "SIGSTOP");
    try {
      // Its job's lock runs out; the first gateway gets the job back.
      await jobHandedBack(executionId, ownerNode);
    } finally {
      stack.signal("gateway-2", "SIGCONT");
    }
    const done = await stack.emulator.waitFor(
      async () => (await stack.db.query<{ status: string; errors: string | null }>("select status, errors from executions where id = $1 and status <> 'processing'", [executionId])).rows[0],
      { timeoutMs: 60_000, intervalMs: 250, message: "the execution ended" },
    );
    assert.equal(done.status, "completed", JSON.stringify(done));
    assert.equal(await runsOf(executionId), 1, "the function ran once");
  });

  test("a queued execution whose node is killed ends failed, naming the node, and is not run again", async () => {
    const executionId = await runSlowOn("gateway-2", "gateway");
    const ownerNode = await nodeIdOf(stack.gatewayUrls[1]!);
    await stack.kill("gateway-2", "SIGKILL");
    await jobHandedBack(executionId, ownerNode);
    // Once the node has been silent for SLIPWAY_GATEWAY_NODE_LOST_SECONDS.
    const done = await stack.emulator.waitFor(
      async () => (await stack.db.query<{ status: string; errors: string | null }>("select status, errors from executions where id = $1 and status <> 'processing'", [executionId])).rows[0],
      { timeoutMs: 3 * 60_000, intervalMs: 500, message: "the execution ended" },
    );
    assert.equal(done.status, "failed");
    assert.match(done.errors ?? "", new RegExp(`the gateway node ${ownerNode.replace(/[.]/g, "\\.")} running this execution stopped before it finished; it may have run, so it was not run again`));
    assert.equal(await runsOf(executionId), 1, "the function ran once");
  });
});
