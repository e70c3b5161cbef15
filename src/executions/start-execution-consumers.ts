// Owns the gateway's BullMQ consumers: it runs queued executions, turns schedule ticks and
// published events into executions, and sweeps for executions whose job went missing or
// failed before its claim (the reconciler puts back, within seconds, the jobs and schedules
// Redis lost).
// Exactly-once rests on Postgres: an execution runs only if its row moves from waiting to
// processing, and a tick or an event makes its row under a unique dedupe key.
// The claim records the gateway node (gateway_nodes.id) that runs it. Only that node can
// tell, from its runtime's log files, whether an interrupted run reached the function, so
// only that node recovers it, once it is back (booted after the claim). A job that comes
// back to another node is left alone while the claiming node lives; once that node has been
// silent for SLIPWAY_GATEWAY_NODE_LOST_SECONDS, the execution ends failed and is not run
// again (it may have run).
import { scheduleHeader } from "../runtime-contract/call-contract.js";
import { Queue, Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Queryable } from "../store/create-database.js";
import {
  claimExecution,
  createExecution,
  failOrphanedExecution,
  findInterruptedOnNode,
  findOrphanedExecutions,
  findPendingExecutions,
  finishExecution,
  getExecution,
  getProcessingExecution,
  type ProcessingExecution,
} from "../store/executions.js";
import {
  enqueueExecution,
  eventQueueName,
  executionMaintenanceQueueName,
  executionQueueName,
  requeueExecution,
  scheduleQueueName,
  type EventJobData,
  type ExecutionJobData,
  type ExecutionQueues,
  type ScheduleJobData,
} from "./execution-queues.js";
import { findEventSubscribers, findScheduledFunction } from "./find-triggered-functions.js";
import { runExecution, type ExecutionContext } from "./run-execution.js";
import { startExecutionReconciler } from "./start-execution-reconciler.js";

export type ExecutionConsumerOptions = {
  /** This gateway node: its id, when it registered, and how long a silent node counts as lost. */
  node: { id: string; bootedAt: Date; lostAfterSeconds: number };
  db: Queryable;
  connection: Redis;
  prefix: string;
  queues: ExecutionQueues;
  context: ExecutionContext;
  concurrency: number;
  lockSeconds: number;
  sweepIntervalSeconds: number;
  /** How often Postgres's due executions are checked against Redis. */
  reconcileIntervalSeconds: number;
  /** How often the cron schedules in Redis are compared with Postgres and repaired. */
  scheduleReconcileSeconds: number;
  log: Logger;
};

export type ExecutionConsumers = { close(): Promise<void> };

const interruptedAfterSeconds = 30 * 60;

export async function startExecutionConsumers(options: ExecutionConsumerOptions): Promise<ExecutionConsumers> {
  const { db, connection, prefix, queues, context, log } = options;
  const workerOptions = {
    connection,
    prefix,
    lockDuration: options.lockSeconds * 1000,
    stalledInterval: Math.max(1000, (options.lockSeconds * 1000) / 2),
    maxStalledCount: 5,
  };

  const { node } = options;

  async function execute(job: Job<ExecutionJobData>): Promise<string> {
    const { executionId } = job.data;
    const claimed = await claimExecution(db, executionId, node.id);
    if (!claimed) {
      const processing = await getProcessingExecution(db, executionId);
      if (processing) return recoverOrLeave(processing);
      return (await getExecution(db, executionId))?.status ?? "missing";
    }
    const result = await runExecution(context, claimed);
    await finishExecution(db, executionId, result);
    return result.status;
  }

  // A job came back while its execution is processing (its gateway died, or lost the job's lock).
  async function recoverOrLeave(execution: ProcessingExecution): Promise<string> {
    // Claimed before node ids were recorded, or by this node before it restarted: this node's runtime has the answer.
    if (execution.nodeId === null || (execution.nodeId === node.id && execution.startedAt < node.bootedAt)) {
      await recoverInterrupted(execution);
      return "recovered";
    }
    // Running here, or on another node: that node finishes it, or recovers it when back;
    // findOrphanedExecutions below ends it if that node is lost.
    return `processing on ${execution.nodeId}`;
  }

  // The job came back after its gateway died mid-run. If the runtime never saw the request
  // (it writes the log files as a request arrives), the execution runs now; otherwise it
  // ran, and must not run twice: it ends with what its logs show.
  async function recoverInterrupted(execution: ProcessingExecution): Promise<void> {
    const { id: executionId, functionId } = execution;
    const target = await context.resolveTarget(functionId).catch(() => null);
    const files = target ? await context.engine.readLogFiles(target.runtime.containerId, executionId).catch(() => null) : null;
    const seen = target ? await context.engine.receivedCall(target.runtime.containerId, executionId) : true;
    if (!seen) {
      // Only the very run that was interrupted: a claim since counts another attempt.
      const reset = await db.query("update executions set status = 'waiting' where id = $1 and status = 'processing' and attempt = $2 and node_id is not distinct from $3", [
        executionId,
        execution.attempt,
        execution.nodeId,
      ]);
      if (reset.rowCount === 1) {
        const claimed = await claimExecution(db, executionId, node.id);
        if (claimed) await finishExecution(db, executionId, await runExecution(context, claimed));
      }
      return;
    }
    // It ran: its files are read now, so they go with the next cleanup like any other's.
    if (target) context.releaseLogFiles(target.runtime.containerId, executionId);
    await finishExecution(db, executionId, {
      status: "failed",
      deploymentId: target?.deploymentId ?? null,
      statusCode: null,
      headers: {},
      body: "",
      logs: files?.logs ?? "",
      errors: `${files?.errors ?? ""}the gateway running this execution stopped before it received the response; the function ran once, and was not run again`,
      logId: executionId,
      durationMs: 0,
    });
  }

  const executions = new Worker<ExecutionJobData>(executionQueueName, execute, { ...workerOptions, concurrency: options.concurrency });

  const schedules = new Worker<ScheduleJobData>(
    scheduleQueueName,
    async (job) => {
      const scheduled = await findScheduledFunction(db, job.data.functionId);
      // A scheduler left behind by a function that no longer has a schedule does nothing.
      if (!scheduled) return "no schedule";
      const tick = new Date(job.timestamp + (job.opts.delay ?? 0));
      const created = await createExecution(db, {
        functionId: job.data.functionId,
        trigger: "schedule",
        status: "waiting",
        request: { method: "POST", path: "/", headers: { [scheduleHeader]: scheduled.schedule }, body: "" },
        dedupeKey: `schedule:${job.id}`,
        scheduledAt: tick,
      });
      await enqueueExecution(queues.executions, created.id);
      return created.id;
    },
    { ...workerOptions, concurrency: 4 },
  );

  const events = new Worker<EventJobData>(
    eventQueueName,
    async (job) => {
      const subscribers = await findEventSubscribers(db, job.data.name, job.data.installationId);
      for (const functionId of subscribers) {
        const created = await createExecution(db, {
          functionId,
          trigger: "event",
          status: "waiting",
          event: job.data.name,
          request: { method: "POST", path: "/", headers: { "content-type": "application/json" }, body: JSON.stringify(job.data.payload ?? {}) },
          dedupeKey: `event:${job.data.eventId}:${functionId}`,
        });
        await enqueueExecution(queues.executions, created.id);
      }
      return subscribers.length;
    },
    { ...workerOptions, concurrency: 4 },
  );

  const maintenance = new Queue(executionMaintenanceQueueName, { connection, prefix });
  const sweeper = new Worker(
    executionMaintenanceQueueName,
    async () => {
      // A crash between writing the row and adding its job leaves a row without a job, and
      // a job that failed before its claim leaves a row nothing will run.
      const pending = await findPendingExecutions(db, 30);
      for (const execution of pending) {
        // A job that moves on between the look and the retry is the next sweep's to check.
        await requeueExecution(queues.executions, execution.id, execution.scheduledAt).catch((error) =>
          log.warn({ err: error, executionId: execution.id }, "could not requeue a pending execution"),
        );
      }
      // A sync execution has no job; if its gateway died, nothing else will finish it.
      const interrupted = await db.query(
        `update executions set status = 'failed', finished_at = now(), errors = coalesce(errors, '') || 'the gateway running this execution stopped before it finished'
          where status = 'processing' and trigger in ('sync', 'http') and started_at < now() - make_interval(secs => $1)`,
        [interruptedAfterSeconds],
      );
      await db.query("delete from api_tokens where kind = 'execution' and expires_at < now() - interval '1 day'");
      return { requeued: pending.length, interrupted: interrupted.rowCount };
    },
    { connection, prefix, concurrency: 1 },
  );

  const reconciler = await startExecutionReconciler({
    db,
    connection,
    queues,
    maintenance,
    intervalSeconds: options.reconcileIntervalSeconds,
    sweepIntervalSeconds: options.sweepIntervalSeconds,
    scheduleIntervalSeconds: options.scheduleReconcileSeconds,
    log,
  });

  // Queued executions this node was running when it stopped, and those of lost nodes.
  let recovering = false;
  const recovery = setInterval(() => {
    if (recovering) return;
    recovering = true;
    (async () => {
      for (const execution of await findInterruptedOnNode(db, node.id, node.bootedAt)) {
        await recoverInterrupted(execution).catch((error: Error) => log.warn({ err: { message: error.message }, executionId: execution.id }, "could not recover an interrupted execution"));
      }
      for (const execution of await findOrphanedExecutions(db, node.id, node.lostAfterSeconds)) {
        if (await failOrphanedExecution(db, execution)) log.warn({ executionId: execution.id, node: execution.nodeId }, "an execution's gateway node is lost; it ends failed and is not run again");
      }
    })()
      .catch((error: Error) => log.warn({ err: { message: error.message } }, "could not look for interrupted executions"))
      .finally(() => (recovering = false));
  }, options.reconcileIntervalSeconds * 1000);
  recovery.unref();

  for (const worker of [executions, schedules, events, sweeper]) {
    worker.on("error", (error) => log.error({ err: error }, "execution consumer error"));
    worker.on("failed", (job, error) => log.error({ err: error, jobId: job?.id }, "execution job failed"));
  }

  return {
    async close() {
      clearInterval(recovery);
      reconciler.close();
      await Promise.all([executions.close(), schedules.close(), events.close(), sweeper.close()]);
      await maintenance.close();
    },
  };
}
