// Owns the build queue: one BullMQ job per deployment, whose id is derived from the
// deployment so that adding it twice (a redelivered webhook, the watchdog re-enqueueing a
// stranded deployment) is a no-op.
import { Queue } from "bullmq";
import type { Redis } from "ioredis";

export const buildQueueName = "builds";
export type BuildJobData = { deploymentId: string };

export function buildJobId(deploymentId: string): string {
  return `build-${deploymentId}`;
}

export function createBuildQueue(connection: Redis, prefix: string): Queue<BuildJobData> {
  return new Queue<BuildJobData>(buildQueueName, { connection, prefix });
}

export async function enqueueBuild(queue: Queue<BuildJobData>, deploymentId: string): Promise<void> {
  await queue.add(
    "build",
    { deploymentId },
    {
      jobId: buildJobId(deploymentId),
      // A failed build is a user's failure, recorded on the deployment; retrying it would
      // only repeat it. A dead worker is handled by BullMQ's stalled-job recovery instead.
      attempts: 1,
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  );
}

/** A build that is already ready, needed for one more alias: the worker only activates it. */
export async function enqueueActivation(queue: Queue<BuildJobData>, deploymentId: string, alias: string): Promise<void> {
  await queue.add("activate", { deploymentId }, { jobId: `activate-${deploymentId}-${alias}-${Date.now()}`, attempts: 1, removeOnComplete: true, removeOnFail: { age: 24 * 3600 } });
}
