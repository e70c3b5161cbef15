// Issue 13, deliverable 6: delayed and scheduled work outlives Redis losing its data. The
// stack's own keys (its queue prefix) are deleted, as a Redis restart without persistence
// would lose them, leaving other users of the shared Redis alone. A delayed execution made
// before the wipe still runs, once, soon after it is due, and the cron schedule still ticks.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { createApiToken } from "../../src/api/api-tokens.js";
import { executionMaintenanceQueueName } from "../../src/executions/execution-queues.js";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "acme";
const repoName = "durable-fns";

const slipwayYml = `functions:
  - id: durable
    runtime: node-20
    root: fn
    commands: "true"
    execute: any
    schedule: "* * * * *"
`;

const handler = `module.exports = async (context) => {
  const h = context.req.headers;
  context.log("ran " + h["x-slipway-execution-id"] + " via " + h["x-slipway-trigger"]);
  return context.res.json({ trigger: h["x-slipway-trigger"] ?? null, body: context.req.bodyText });
};
`;

describe("delayed and scheduled work after Redis loses its data", { timeout: 15 * 60_000 }, () => {
  let stack: SlipwayStack;
  let server: string;
  let functionId: string;
  let deploymentId: string;

  before(async () => {
    stack = await startSlipwayStack();
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 6262 });
    server = (await createApiToken(stack.db, { name: "operator", kind: "server" })).token;
    const files = { "slipway.yml": slipwayYml, "fn/index.js": handler, "fn/package.json": JSON.stringify({ name: "fn", private: true }) };
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: "deploy" });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: "deploy" }), secret: stack.webhookSecret, deliveryId: randomUUID() });
    const production = await stack.emulator.waitFor(
      async () => (await stack.db.query<{ function_id: string; deployment_id: string }>("select function_id, deployment_id from aliases where name = 'production'")).rows[0],
      { timeoutMs: 8 * 60_000, intervalMs: 500, describe: () => stack.logs().slice(-4000) },
    );
    functionId = production.function_id;
    deploymentId = production.deployment_id;
  });

  after(async () => {
    if (process.env.SLIPWAY_TEST_LOG_FILE && stack) (await import("node:fs")).writeFileSync(process.env.SLIPWAY_TEST_LOG_FILE, stack.logs());
    if (stack) await stack.stop();
  });

  /** Deletes this stack's keys only; the Redis server is shared with other stacks. */
  async function wipeStackKeys(): Promise<number> {
    const redis = new Redis(stack.env.REDIS_URL!, { maxRetriesPerRequest: 3 });
    try {
      let deleted = 0;
      for await (const keys of redis.scanStream({ match: `${stack.env.SLIPWAY_QUEUE_PREFIX!}:*`, count: 500 }) as AsyncIterable<string[]>) {
        if (keys.length > 0) deleted += await redis.del(...keys);
      }
      return deleted;
    } finally {
      redis.disconnect();
    }
  }

  async function functionRuns(executionId: string): Promise<number> {
    const container = new Docker().getContainer(`slipway-runtime-${deploymentId}`);
    const exec = await container.exec({ Cmd: ["sh", "-c", "cat /mnt/logs/*_logs.log 2>/dev/null; true"], AttachStdout: true, AttachStderr: true, Tty: true });
    const stream = await exec.start({ Tty: true });
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve) => {
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", resolve);
    });
    return [...Buffer.concat(chunks).toString("utf8").matchAll(/ran ([0-9a-f-]{36}) via/g)].filter((m) => m[1] === executionId).length;
  }

  test("a delayed execution whose job Redis lost still runs, once, soon after it is due", async () => {
    const runAt = new Date(Date.now() + 8000);
    const response = await fetch(`${stack.gatewayUrl}/v1/functions/${functionId}/executions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${server}` },
      body: JSON.stringify({ scheduledAt: runAt.toISOString(), body: "delayed" }),
    });
    assert.equal(response.status, 202, await response.clone().text());
    const created = (await response.json()) as { id: string; status: string };
    assert.equal(created.status, "scheduled");
    assert.ok((await wipeStackKeys()) > 0, "the stack had keys to lose");

    const done = await stack.emulator.waitFor(
      async () => {
        const row = (await stack.db.query("select status, started_at, response_body from executions where id = $1", [created.id])).rows[0];
        return ["completed", "failed", "timed_out"].includes(row?.status) ? row : undefined;
      },
      { timeoutMs: 8000 + 30_000, intervalMs: 250, message: "the delayed execution ran after the wipe", describe: () => stack.logs().slice(-4000) },
    );
    assert.equal(done.status, "completed");
    assert.ok(done.started_at.getTime() >= runAt.getTime() - 50, "not before its time");
    assert.ok(done.started_at.getTime() <= runAt.getTime() + 15_000, `within seconds of being due: started ${done.started_at.toISOString()}, due ${runAt.toISOString()}`);
    assert.equal(JSON.parse(done.response_body).body, "delayed");
    // A re-added job whose claim loses does nothing; give one more reconcile pass the chance to show a second run.
    await new Promise((r) => setTimeout(r, 4000));
    assert.equal(await functionRuns(created.id), 1, "the function ran once for it");
  });

  test("the cron schedule still ticks after its scheduler was wiped", async () => {
    await wipeStackKeys();
    const wipedAt = new Date();
    // The next minute's tick, plus the seconds it takes to see the loss and run.
    const tick = await stack.emulator.waitFor(
      async () =>
        (await stack.db.query("select id, scheduled_at from executions where function_id = $1 and trigger = 'schedule' and status = 'completed' and scheduled_at > $2", [functionId, wipedAt])).rows[0],
      { timeoutMs: 100_000, intervalMs: 500, message: "a tick after the wipe ran", describe: () => stack.logs().slice(-4000) },
    );
    assert.equal(tick.scheduled_at.getTime() % 60_000, 0, "on the minute");
    const perTick = await stack.db.query("select scheduled_at, count(*)::int as n from executions where trigger = 'schedule' group by scheduled_at");
    for (const row of perTick.rows) assert.equal(row.n, 1, `one execution per tick: ${JSON.stringify(perTick.rows)}`);
  });

  test("the sweepers' schedulers are registered again after the wipe", async () => {
    await wipeStackKeys();
    const connection = new Redis(stack.env.REDIS_URL!, { maxRetriesPerRequest: 3 });
    const prefix = stack.env.SLIPWAY_QUEUE_PREFIX!;
    const gatewaySweeper = new Queue(executionMaintenanceQueueName, { connection, prefix });
    const workerMaintenance = new Queue("maintenance", { connection, prefix });
    try {
      await stack.emulator.waitFor(
        async () =>
          (await gatewaySweeper.getJobScheduler("sweep")) && (await workerMaintenance.getJobScheduler("watchdog")) && (await workerMaintenance.getJobScheduler("retention")),
        { timeoutMs: 30_000, intervalMs: 500, message: "the sweep, watchdog and retention schedulers are back", describe: () => stack.logs().slice(-4000) },
      );
    } finally {
      await Promise.all([gatewaySweeper.close(), workerMaintenance.close()]);
      connection.disconnect();
    }
  });
});
