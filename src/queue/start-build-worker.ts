// Owns the worker role's BullMQ consumers: the build queue, and the maintenance queue whose
// job schedulers run the watchdog and the retention policy, each tick once across all workers,
// and keeping those schedulers registered when Redis loses them.
import { Queue, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { eventQueueName, type EventJobData } from "../executions/execution-queues.js";
import { processBuild, type BuildDependencies } from "../pipeline/process-build.js";
import { createBuildContainersAhead } from "../pipeline/build-containers-ahead.js";
import { buildQueueName, createBuildQueue, type BuildJobData } from "./build-queue.js";
import { runRetention } from "./run-retention.js";
import { runWatchdog } from "./run-watchdog.js";

const maintenanceQueueName = "maintenance";
const schedulerCheckMs = 10_000;

export type BuildWorker = { close(): Promise<void> };

export async function startBuildWorker(deps: BuildDependencies, connection: Redis): Promise<BuildWorker> {
  const { config } = deps;
  const prefix = config.SLIPWAY_QUEUE_PREFIX;
  // Deployment events (`deployments.<function>.ready|failed`) for functions subscribed to them.
  const events = new Queue<EventJobData>(eventQueueName, { connection, prefix });
  // Each function's next build container, started after its last successful build.
  const ahead = deps.ahead ?? createBuildContainersAhead(deps.docker, { idleSeconds: config.SLIPWAY_BUILD_AHEAD_SECONDS, log: deps.log });
  const builds = new Worker<BuildJobData>(buildQueueName, (job) => processBuild(job.data.deploymentId, { ...deps, events, ahead }), {
    connection,
    prefix,
    concurrency: config.SLIPWAY_WORKER_CONCURRENCY,
    lockDuration: config.SLIPWAY_WORKER_LOCK_SECONDS * 1000,
    stalledInterval: Math.max(1000, (config.SLIPWAY_WORKER_LOCK_SECONDS * 1000) / 2),
    // A job whose worker died goes back to the queue; twice is a pattern, not bad luck.
    maxStalledCount: 2,
  });
  builds.on("failed", (job, error) => deps.log.error({ err: error, jobId: job?.id }, "build job failed"));
  builds.on("error", (error) => deps.log.error({ err: error }, "build worker error"));

  const buildQueue = createBuildQueue(connection, prefix);
  const maintenance = new Queue(maintenanceQueueName, { connection, prefix });
  async function registerSchedulers(): Promise<void> {
    await maintenance.upsertJobScheduler(
      "retention",
      { every: config.SLIPWAY_RETENTION_INTERVAL_SECONDS * 1000 },
      { name: "retention", opts: { removeOnComplete: true, removeOnFail: 100 } },
    );
    // Last, so its presence says both are registered.
    await maintenance.upsertJobScheduler(
      "watchdog",
      { every: config.SLIPWAY_WATCHDOG_INTERVAL_SECONDS * 1000 },
      { name: "watchdog", opts: { removeOnComplete: true, removeOnFail: 100 } },
    );
  }
  await registerSchedulers();
  // The schedulers live in Redis only: registered again on each reconnect, and whenever
  // Redis lost its data (a restart without persistence) without this worker reconnecting.
  const reregister = () =>
    void registerSchedulers().catch((error: Error) => deps.log.warn({ err: { message: error.message } }, "could not register the maintenance schedulers"));
  connection.on("ready", reregister);
  const check = setInterval(() => {
    void maintenance
      .getJobScheduler("watchdog")
      .then((scheduler) => scheduler ?? reregister())
      .catch(() => {});
  }, schedulerCheckMs);
  check.unref();
  const maintenanceWorker = new Worker(maintenanceQueueName, (job) => (job.name === "retention" ? runRetention(deps) : runWatchdog(deps, buildQueue)), {
    connection,
    prefix,
    concurrency: 1,
  });
  maintenanceWorker.on("error", (error) => deps.log.error({ err: error }, "maintenance worker error"));

  return {
    async close() {
      clearInterval(check);
      connection.off("ready", reregister);
      await Promise.all([builds.close(), maintenanceWorker.close()]);
      await ahead.close();
      await Promise.all([buildQueue.close(), maintenance.close(), events.close()]);
    },
  };
}
