// Owns Slipway's own events, `deployments.<function>.ready` and `deployments.<function>.failed`,
// published by the worker when a build ends. Only functions of the same installation see them.
import type { Queue } from "bullmq";
import { publishEvent, type EventJobData } from "./execution-queues.js";

export async function emitDeploymentEvent(
  queue: Queue<EventJobData> | undefined,
  deployment: { deploymentId: string; functionId: string; functionName: string; version: number; commitSha: string; owner: string; repo: string; installationId: number },
  outcome: "ready" | "failed",
  error: string | null = null,
): Promise<void> {
  if (!queue) return;
  await publishEvent(queue, {
    eventId: `deployment-${deployment.deploymentId}-${outcome}`,
    name: `deployments.${deployment.functionName}.${outcome}`,
    installationId: deployment.installationId,
    payload: {
      deploymentId: deployment.deploymentId,
      functionId: deployment.functionId,
      function: deployment.functionName,
      repository: `${deployment.owner}/${deployment.repo}`,
      version: deployment.version,
      commitSha: deployment.commitSha,
      status: outcome,
      ...(error ? { error } : {}),
    },
  });
}
