// Owns the BullMQ queues of executions: `executions` (one job per async, delayed, scheduled
// or event execution, whose id is derived from the execution so adding it twice is a
// no-op), `schedules` (one job scheduler per function with a `schedule:`, so each tick
// makes one job however many gateways run), `events` (one job per published event, fanned
// out to the subscribed functions) and `execution-maintenance` (the sweeper).
import { Queue } from "bullmq";
import type { Redis } from "ioredis";

export const executionQueueName = "executions";
export const scheduleQueueName = "schedules";
export const eventQueueName = "events";
export const executionMaintenanceQueueName = "execution-maintenance";

export type ExecutionJobData = { executionId: string };
export type ScheduleJobData = { functionId: string };
export type EventJobData = { eventId: string; name: string; payload: unknown; installationId: number | null };

export type ExecutionQueues = {
  executions: Queue<ExecutionJobData>;
  schedules: Queue<ScheduleJobData>;
  events: Queue<EventJobData>;
  close(): Promise<void>;
};

export function createExecutionQueues(connection: Redis, prefix: string): ExecutionQueues {
  const executions = new Queue<ExecutionJobData>(executionQueueName, { connection, prefix });
  const schedules = new Queue<ScheduleJobData>(scheduleQueueName, { connection, prefix });
  const events = new Queue<EventJobData>(eventQueueName, { connection, prefix });
  return {
    executions,
    schedules,
    events,
    async close() {
      await Promise.all([executions.close(), schedules.close(), events.close()]);
    },
  };
}

export function executionJobId(executionId: string): string {
  return `execution-${executionId}`;
}

export async function enqueueExecution(queue: Queue<ExecutionJobData>, executionId: string, runAt: Date | null = null): Promise<void> {
  await queue.add(
    "execute",
    { executionId },
    {
      jobId: executionJobId(executionId),
      delay: runAt ? Math.max(0, runAt.getTime() - Date.now()) : 0,
      // The execution's row is the record; a job that fails is not retried, because the
      // function may have run. A dead gateway is handled by stalled-job recovery instead.
      attempts: 1,
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 24 * 3600 },
    },
  );
}

/**
 * Makes sure a pending execution has a job that will run it: added when it went missing, and
 * retried when it ended without running the execution (say, Postgres failed before the
 * claim). Adding alone would not do: an add whose job id exists, even as a failed job, is a
 * no-op, and the execution would wait forever. Retrying is safe, the claim runs it at most once.
 */
export async function requeueExecution(queue: Queue<ExecutionJobData>, executionId: string, runAt: Date | null = null): Promise<"added" | "retried" | "queued"> {
  const job = await queue.getJob(executionJobId(executionId));
  if (!job) {
    await enqueueExecution(queue, executionId, runAt);
    return "added";
  }
  const state = await job.getState();
  if (state !== "failed" && state !== "completed") return "queued";
  await job.retry(state, { resetAttemptsMade: true, resetAttemptsStarted: true });
  return "retried";
}

export const sweepSchedulerId = "sweep";

/** Registers (or keeps) the sweeper's job scheduler, so one sweep runs per interval across all gateways. */
export async function registerSweep(queue: Queue, everySeconds: number): Promise<void> {
  await queue.upsertJobScheduler(sweepSchedulerId, { every: everySeconds * 1000 }, { name: "sweep", opts: { removeOnComplete: true, removeOnFail: 100 } });
}

export function scheduleSchedulerId(functionId: string): string {
  return `function-${functionId}`;
}

/** Registers, replaces or removes the function's cron schedule (UTC). */
export async function syncFunctionSchedule(queue: Queue<ScheduleJobData>, functionId: string, schedule: string | null): Promise<void> {
  if (!schedule) {
    await queue.removeJobScheduler(scheduleSchedulerId(functionId));
    return;
  }
  await queue.upsertJobScheduler(
    scheduleSchedulerId(functionId),
    { pattern: schedule, tz: "UTC" },
    { name: "tick", data: { functionId }, opts: { removeOnComplete: { age: 3600, count: 1000 }, removeOnFail: { age: 24 * 3600 } } },
  );
}

/** Publishes an event; functions subscribed to it run asynchronously. Installation null: every installation. */
export async function publishEvent(queue: Queue<EventJobData>, event: { eventId: string; name: string; payload: unknown; installationId: number | null }): Promise<void> {
  await queue.add("event", event, { jobId: `event-${event.eventId}`, attempts: 3, backoff: { type: "exponential", delay: 1000 }, removeOnComplete: { age: 3600, count: 10_000 }, removeOnFail: { age: 24 * 3600 } });
}
