// Owns following one build to its end: its log streams as it is written (to stdout, or to
// stderr under --json so stdout stays one JSON document), then the deployment's final state
// is read back. The caller turns a failed or cancelled build into exit status 1.
import type { ApiClient } from "./api-client.js";
import type { Output } from "./cli-output.js";

export type Deployment = { id: string; functionId: string; functionName: string; owner: string; repo: string; version: number; status: string; error: string | null; failedCommand: string | null };

const unfinished = new Set(["queued", "building"]);

export async function followDeployment(client: ApiClient, deploymentId: string, options: { follow: boolean; json: boolean }, output: Output): Promise<Deployment> {
  const write = options.json ? output.err : output.out;
  await client.stream(`/v1/deployments/${deploymentId}/logs${options.follow ? "?follow=true" : ""}`, write);
  let deployment = await client.get<Deployment>(`/v1/deployments/${deploymentId}`);
  // The live stream needs Redis; without it the log ends early and the state is polled.
  for (let i = 0; options.follow && i < 3600 && unfinished.has(deployment.status); i++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    deployment = await client.get<Deployment>(`/v1/deployments/${deploymentId}`);
  }
  return deployment;
}

/** The line that says why a build did not become a version, or null when it did (or still may). */
export function buildFailureLine(deployment: Deployment): string | null {
  if (deployment.status === "failed") return `v${deployment.version} failed: ${deployment.error ?? "no reason was recorded"}`;
  if (deployment.status === "cancelled") return `v${deployment.version} was cancelled${deployment.error ? `: ${deployment.error}` : " (a newer build of the same function replaced it)"}`;
  return null;
}
