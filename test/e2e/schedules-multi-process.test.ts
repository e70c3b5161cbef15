// Issue 6: a `schedule:` runs once per tick however many processes run. Two gateways (the
// role that consumes executions and schedule ticks) and two workers share one database
// and one queue prefix; over two real cron ticks each tick makes one execution row and the
// function runs once for it, counted from the function's own log lines. Between the ticks
// the schedule is registered again from the other gateway, as a load-balanced activation
// would do.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Queue } from "bullmq";
import Docker from "dockerode";
import { Redis } from "ioredis";
import { executionQueueName, scheduleQueueName } from "../../src/executions/execution-queues.js";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "acme";
const repoName = "cron-fns";
const slug = `tick~${repoName}~${owner}`;

const slipwayYml = `functions:
  - id: tick
    runtime: node-20
    root: fn
    commands: "true"
    execute: any
    schedule: "* * * * *"
`;

const handler = `module.exports = async (context) => {
  const h = context.req.headers;
  context.log("ran " + h["x-slipway-execution-id"] + " via " + h["x-slipway-trigger"]);
  return context.res.json({ trigger: h["x-slipway-trigger"] ?? null });
};
`;

type TickRow = { tick: Date; executions: number; completed: number; ids: string[]; scheduledAt: Date[] };

describe("schedules with two gateways and two workers", { timeout: 15 * 60_000 }, () => {
  let stack: SlipwayStack;
  let functionId: string;
  let deploymentId: string;

  before(async () => {
    stack = await startSlipwayStack({ extraGateways: 1, extraWorkers: 1, env: { SLIPWAY_EXECUTION_CONCURRENCY: "4" } });
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 6161 });
    const files = { "slipway.yml": slipwayYml, "fn/index.js": handler, "fn/package.json": JSON.stringify({ name: "fn", private: true }) };
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: "deploy" });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: "deploy" }), secret: stack.webhookSecret, deliveryId: randomUUID() });
    const production = await stack.emulator.waitFor(
      async () => (await stack.db.query<{ function_id: string; deployment_id: string }>("select function_id, deployment_id from aliases where name = 'production'")).rows[0],
      { timeoutMs: 8 * 60_000, intervalMs: 500, describe: () => stack.logs().slice(-4000) },
    );
    functionId = production.function_id;
    deploymentId = production.deployment_id;
    // The second gateway learns the route over Redis; a tick it takes must find the function.
    for (const url of stack.gatewayUrls) {
      await stack.emulator.waitFor(async () => (await fetch(`${url}/fn/${slug}/`)).status === 200, { timeoutMs: 60_000, intervalMs: 250, message: `${url} serves ${slug}` });
    }
  });

  after(async () => {
    if (process.env.SLIPWAY_TEST_LOG_FILE && stack) (await import("node:fs")).writeFileSync(process.env.SLIPWAY_TEST_LOG_FILE, stack.logs());
    if (stack) await stack.stop();
  });

  // Rows per cron tick. Ticks are grouped by the minute they are nearest to, so a tick time
  // that drifted from the boundary still counts against its tick instead of hiding a duplicate.
  async function scheduledTicks(): Promise<TickRow[]> {
    const result = await stack.db.query<TickRow>(
      `select to_timestamp(round(extract(epoch from scheduled_at) / 60) * 60) as tick, count(*)::int as executions,
              count(*) filter (where status = 'completed')::int as completed, array_agg(id::text) as ids, array_agg(scheduled_at) as "scheduledAt"
         from executions where trigger = 'schedule' and function_id = $1 group by 1 order by 1`,
      [functionId],
    );
    return result.rows;
  }

  async function functionLogLines(): Promise<string> {
    const container = new Docker().getContainer(`slipway-runtime-${deploymentId}`);
    const exec = await container.exec({ Cmd: ["sh", "-c", "cat /mnt/logs/*_logs.log 2>/dev/null; true"], AttachStdout: true, AttachStderr: true, Tty: true });
    const stream = await exec.start({ Tty: true });
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve) => {
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", resolve);
    });
    return Buffer.concat(chunks).toString("utf8");
  }

  test("every gateway consumes executions and schedule ticks", async () => {
    const connection = new Redis(stack.env.REDIS_URL!, { maxRetriesPerRequest: null });
    const prefix = stack.env.SLIPWAY_QUEUE_PREFIX!;
    const queues = [new Queue(scheduleQueueName, { connection, prefix }), new Queue(executionQueueName, { connection, prefix })];
    try {
      for (const queue of queues) assert.ok((await queue.getWorkersCount()) >= 2, `both gateways consume ${queue.name}`);
    } finally {
      await Promise.all(queues.map((queue) => queue.close()));
      connection.disconnect();
    }
    assert.deepEqual(stack.processNames().sort(), ["app", "gateway", "gateway-2", "worker", "worker-2"]);
  });

  test("two cron ticks: each makes one execution, which runs once", async () => {
    // Two real ticks: at most two minutes from activation, plus the runs themselves.
    const deadline = Date.now() + 150_000;
    const firstTick = await stack.emulator.waitFor(async () => (await scheduledTicks()).find((t) => t.completed > 0), {
      timeoutMs: deadline - Date.now(),
      intervalMs: 500,
      message: "the first tick ran",
      describe: () => stack.logs().slice(-4000),
    });

    // Activating production again on the other gateway registers the schedule again, from
    // another process; the next tick must still run once.
    const again = await fetch(`${stack.gatewayUrls[1]}/v1/activations`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.gatewaySecret}`, "content-type": "application/json" },
      body: JSON.stringify({ deploymentId, alias: "production", via: "system" }),
    });
    assert.equal(again.status, 200, await again.clone().text());
    assert.equal(((await again.json()) as { activated: boolean }).activated, true);

    await stack.emulator.waitFor(async () => (await scheduledTicks()).find((t) => t.tick.getTime() > firstTick.tick.getTime() && t.completed > 0), {
      timeoutMs: Math.max(1000, deadline - Date.now()),
      intervalMs: 500,
      message: "the second tick ran",
      describe: () => stack.logs().slice(-4000),
    });
    // A duplicate would come from the other gateway at about the same moment; give it time to show.
    await new Promise((r) => setTimeout(r, 3000));

    const ticks = await scheduledTicks();
    assert.ok(ticks.length >= 2, `two ticks at least: ${JSON.stringify(ticks)}`);
    for (const tick of ticks) {
      assert.equal(tick.executions, 1, `one execution for the tick at ${tick.tick.toISOString()}: ${JSON.stringify(tick)}`);
      // The tick time is the cron time itself, on the minute.
      assert.equal(tick.scheduledAt[0]!.getTime() % 60_000, 0, `scheduled on the minute: ${tick.scheduledAt[0]!.toISOString()}`);
    }
    const ran = ticks.filter((t) => t.completed === 1);
    assert.ok(ran.length >= 2, `two ticks completed: ${JSON.stringify(ticks)}`);
    for (const { ids } of ran) {
      const execution = await stack.db.query("select status, response_body, errors from executions where id = $1", [ids[0]]);
      assert.equal(execution.rows[0].status, "completed", JSON.stringify(execution.rows[0]));
      assert.equal(JSON.parse(execution.rows[0].response_body).trigger, "schedule");
    }

    // The function's own record: one run per completed tick's execution, and no schedule run besides.
    const lines = [...(await functionLogLines()).matchAll(/ran ([0-9a-f-]{36}) via schedule/g)].map((m) => m[1]!);
    const runs = new Map<string, number>();
    for (const id of lines) runs.set(id, (runs.get(id) ?? 0) + 1);
    for (const { ids } of ran) assert.equal(runs.get(ids[0]!), 1, `execution ${ids[0]} ran once: ${JSON.stringify([...runs])}`);
    const known = new Set(ticks.flatMap((t) => t.ids));
    assert.deepEqual(lines.filter((id) => !known.has(id)), [], "no schedule run without its execution row");
    assert.deepEqual([...runs].filter(([, count]) => count > 1), [], "no execution ran twice");
  });
});
