// Owns putting Postgres's executions and schedules back into Redis after Redis lost them (a
// restart without persistence, a flush). Every gateway, every few seconds, re-adds the job
// of each due or waiting execution whose job is missing, under the same job id, so a job
// that exists is left alone. When the sweeper's scheduler is gone, Redis lost its data, and
// the sweeper and every production schedule are registered again; on each reconnect they
// are registered again regardless. Re-adding never runs an execution twice: only the run
// whose claim moves the row from waiting or scheduled to processing runs it.
// Besides, every SLIPWAY_SCHEDULE_RECONCILE_SECONDS each gateway compares the cron schedules
// in Redis with what production serves in Postgres and repairs the difference (one lost,
// changed or left behind), so no loss of Redis data, whole or partial, drops a schedule.
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Queryable } from "../store/create-database.js";
import { findDueExecutions } from "../store/executions.js";
import { enqueueExecution, executionJobId, registerSweep, scheduleSchedulerId, sweepSchedulerId, syncFunctionSchedule, type ExecutionQueues } from "./execution-queues.js";
import { findScheduledFunction, findScheduledFunctions } from "./find-triggered-functions.js";

export type ExecutionReconcilerOptions = {
  db: Queryable;
  connection: Redis;
  queues: ExecutionQueues;
  maintenance: Queue;
  intervalSeconds: number;
  sweepIntervalSeconds: number;
  /** How often the schedules in Redis are compared with Postgres and repaired. */
  scheduleIntervalSeconds: number;
  log: Logger;
};

export type ExecutionReconciler = { close(): void };

/** A waiting execution younger than this may still be getting its job from whoever made it. */
const waitingGraceSeconds = 5;
const batchSize = 1000;

export async function startExecutionReconciler(options: ExecutionReconcilerOptions): Promise<ExecutionReconciler> {
  const { db, connection, queues, maintenance, log } = options;

  async function registerSchedulers(): Promise<void> {
    for (const { functionId, schedule } of await findScheduledFunctions(db)) {
      await syncFunctionSchedule(queues.schedules, functionId, schedule);
    }
    // Last, so a pass that fails half-way finds the sweeper missing and starts over.
    await registerSweep(maintenance, options.sweepIntervalSeconds);
  }

  /** Makes Redis's function schedulers match Postgres: adds the missing, fixes the changed, removes the stale. */
  async function repairSchedules(): Promise<{ added: number; changed: number; removed: number }> {
    const wanted = new Map((await findScheduledFunctions(db)).map((f) => [scheduleSchedulerId(f.functionId), f]));
    const existing = new Map((await queues.schedules.getJobSchedulers(0, -1)).map((s) => [s.key, s]));
    const counts = { added: 0, changed: 0, removed: 0 };
    for (const [key, { functionId, schedule }] of wanted) {
      const current = existing.get(key);
      if (current && current.pattern === schedule && current.tz === "UTC") continue;
      await syncFunctionSchedule(queues.schedules, functionId, schedule);
      counts[current ? "changed" : "added"]++;
    }
    for (const key of existing.keys()) {
      if (wanted.has(key) || !key.startsWith(scheduleSchedulerId(""))) continue;
      const functionId = key.slice(scheduleSchedulerId("").length);
      // Looked at again: an activation may have given the function a schedule just now.
      if (await findScheduledFunction(db, functionId)) continue;
      await queues.schedules.removeJobScheduler(key);
      counts.removed++;
    }
    return counts;
  }

  async function requeueMissingJobs(): Promise<number> {
    const due = await findDueExecutions(db, { waitingSeconds: waitingGraceSeconds, dueWithinSeconds: options.intervalSeconds, limit: batchSize });
    if (due.length === 0) return 0;
    const pipeline = connection.pipeline();
    for (const execution of due) pipeline.exists(queues.executions.toKey(executionJobId(execution.id)));
    const exists = (await pipeline.exec()) ?? [];
    const missing = due.filter((_, index) => exists[index]?.[1] === 0);
    for (const execution of missing) await enqueueExecution(queues.executions, execution.id, execution.scheduledAt);
    return missing.length;
  }

  async function reconcile(reregister: boolean): Promise<void> {
    // The sweeper's scheduler is there from the gateway's start on; gone, Redis lost its data.
    const lost = !reregister && !(await maintenance.getJobScheduler(sweepSchedulerId));
    if (reregister || lost) await registerSchedulers();
    const requeued = await requeueMissingJobs();
    if (lost || requeued > 0) log.warn({ requeued, schedulesRegisteredAgain: lost }, "put executions and schedules back into Redis");
  }

  // One pass at a time. A reconnect during a pass asks for another pass, with the schedules,
  // right after it; a pass that failed leaves that to the next tick, so an outage is no busy loop.
  let running = false;
  let reregisterPending = false;
  async function run(reregister: boolean): Promise<void> {
    reregisterPending ||= reregister;
    if (running) return;
    running = true;
    try {
      do {
        const forced = reregisterPending;
        reregisterPending = false;
        try {
          await reconcile(forced);
        } catch (error) {
          reregisterPending ||= forced;
          log.warn({ err: { message: (error as Error).message } }, "could not reconcile executions with Redis");
          break;
        }
      } while (reregisterPending);
    } finally {
      running = false;
    }
  }

  // The gateway starts with the schedules registered; each `ready` from now on is a reconnect.
  await reconcile(true);
  const timer = setInterval(() => void run(false), options.intervalSeconds * 1000);
  timer.unref();
  const onReady = () => {
    log.info("reconnected to Redis: registering the schedules again and re-adding missing jobs");
    void run(true);
  };
  connection.on("ready", onReady);
  let repairing = false;
  const scheduleTimer = setInterval(() => {
    if (repairing) return;
    repairing = true;
    repairSchedules()
      .then((counts) => {
        if (counts.added || counts.changed || counts.removed) log.warn(counts, "repaired the cron schedules in Redis from Postgres");
      })
      .catch((error: Error) => log.warn({ err: { message: error.message } }, "could not compare the cron schedules in Redis with Postgres"))
      .finally(() => (repairing = false));
  }, options.scheduleIntervalSeconds * 1000);
  scheduleTimer.unref();

  return {
    close() {
      clearInterval(timer);
      clearInterval(scheduleTimer);
      connection.off("ready", onReady);
    },
  };
}
