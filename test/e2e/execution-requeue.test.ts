// The sweeper's requeue on a real Redis: an execution whose job failed before it was
// claimed (a Postgres hiccup, say) runs when swept, instead of waiting forever behind a
// job id that adding again would ignore.
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { createExecutionQueues, enqueueExecution, executionJobId, executionQueueName, requeueExecution, type ExecutionQueues } from "../../src/executions/execution-queues.js";
import { waitFor } from "../emulator/wait-for.js";

describe("requeueing a pending execution", { timeout: 60_000 }, () => {
  const prefix = `slipway-test-${randomBytes(4).toString("hex")}`;
  let connection: Redis;
  let workerConnection: Redis;
  let queues: ExecutionQueues;
  let worker: Worker;
  const attempts = new Map<string, number>();
  const ran: string[] = [];

  before(async () => {
    connection = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { maxRetriesPerRequest: null });
    workerConnection = connection.duplicate();
    queues = createExecutionQueues(connection, prefix);
    // Fails each execution's first attempt, as a consumer whose claim hit a database error would.
    worker = new Worker(
      executionQueueName,
      async (job) => {
        const id = job.data.executionId as string;
        attempts.set(id, (attempts.get(id) ?? 0) + 1);
        if (attempts.get(id) === 1) throw new Error("the database went away before the claim");
        ran.push(id);
      },
      { connection: workerConnection, prefix },
    );
  });

  after(async () => {
    await worker.close();
    await queues.executions.obliterate({ force: true });
    await queues.close();
    connection.disconnect();
    workerConnection.disconnect();
  });

  test("a job that failed is retried; a missing one is added; a queued one is left alone", async () => {
    const failing = randomUUID();
    await enqueueExecution(queues.executions, failing);
    await waitFor(async () => (await queues.executions.getJob(executionJobId(failing)))?.isFailed(), { timeoutMs: 10_000, intervalMs: 50 });
    // Adding it again, all the sweeper used to do, changes nothing.
    await enqueueExecution(queues.executions, failing);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(ran.length, 0);

    assert.equal(await requeueExecution(queues.executions, failing), "retried");
    await waitFor(() => ran.includes(failing), { timeoutMs: 10_000, intervalMs: 50, message: "the failed execution ran once retried" });

    const missing = randomUUID();
    attempts.set(missing, 1);
    assert.equal(await requeueExecution(queues.executions, missing), "added");
    await waitFor(() => ran.includes(missing), { timeoutMs: 10_000, intervalMs: 50 });

    const later = randomUUID();
    attempts.set(later, 1);
    await enqueueExecution(queues.executions, later, new Date(Date.now() + 60_000));
    assert.equal(await requeueExecution(queues.executions, later), "queued");
    assert.equal(await (await queues.executions.getJob(executionJobId(later)))!.getState(), "delayed");
    assert.deepEqual(ran, [failing, missing]);
  });
});
