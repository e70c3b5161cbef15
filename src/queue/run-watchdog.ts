// Owns the rule that no deployment waits forever: a build past its wall-time limit (plus a
// margin for the worker's own steps) is failed, its check run saying so, and a queued
// deployment whose job went missing is enqueued again.
import type { Queue } from "bullmq";
import { transitionDeployment } from "../deployments/deployment-state.js";
import type { BuildDependencies } from "../pipeline/process-build.js";
import { removeBuildContainers } from "../pipeline/run-build-container.js";
import { findOverdueBuilds, findQueuedDeployments } from "../store/deployments.js";
import { enqueueBuild, type BuildJobData } from "./build-queue.js";

const marginSeconds = 120;
const strandedAfterSeconds = 60;

export async function runWatchdog(deps: BuildDependencies, buildQueue: Queue<BuildJobData>): Promise<{ failed: number; requeued: number }> {
  // Each runtime's own limit (rust-1.85 allows 1800 s), as the worker that builds applies it.
  const timeoutOf = (runtime: string) => deps.runtimes.get(runtime)?.buildTimeoutSeconds ?? deps.config.SLIPWAY_BUILD_TIMEOUT_SECONDS;
  const shortest = Math.min(deps.config.SLIPWAY_BUILD_TIMEOUT_SECONDS, ...[...deps.runtimes.keys()].map(timeoutOf)) + marginSeconds;
  let failed = 0;
  for (const overdue of await findOverdueBuilds(deps.db, shortest, (runtime) => timeoutOf(runtime) + marginSeconds)) {
    const reason = `the build did not finish within ${overdue.limitSeconds} s; its worker stopped responding`;
    const changed = await transitionDeployment(deps.db, overdue.id, "failed", {
      attempt: overdue.attempt,
      fields: { error: reason, build_finished_at: new Date() },
      report: { kind: "deployment", deploymentId: overdue.id, phase: "failed", reason, conclusion: "timed_out", failedCommand: null, annotations: [], afterReady: false },
    });
    if (!changed) continue;
    failed++;
    await removeBuildContainers(deps.docker, overdue.id);
    deps.log.warn({ deploymentId: overdue.id }, "watchdog failed an overdue build");
  }

  let requeued = 0;
  for (const deploymentId of await findQueuedDeployments(deps.db, strandedAfterSeconds)) {
    // Adding a job whose id exists is a no-op, so only a truly missing job is recreated.
    await enqueueBuild(buildQueue, deploymentId);
    requeued++;
  }
  return { failed, requeued };
}
