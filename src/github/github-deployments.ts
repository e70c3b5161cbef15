// Owns the GitHub Deployments calls: one GitHub Deployment per build and alias, in
// environment `production` or `preview/pr-<n>`, and its statuses as the build moves.
import type { Octokit } from "@octokit/rest";
import type { RepoRef } from "./check-runs.js";

export type GithubDeploymentState = "queued" | "in_progress" | "success" | "failure" | "error" | "inactive";

export function environmentForAlias(alias: string): string {
  return alias === "production" ? "production" : `preview/${alias}`;
}

export async function createGithubDeployment(
  octokit: Octokit,
  target: RepoRef & { sha: string; alias: string; functionName: string; deploymentId: string; version: number },
): Promise<number> {
  const preview = target.alias !== "production";
  const response = await octokit.rest.repos.createDeployment({
    owner: target.owner,
    repo: target.repo,
    ref: target.sha,
    task: "deploy",
    environment: environmentForAlias(target.alias),
    description: `${target.functionName} v${target.version}`.slice(0, 140),
    payload: { slipwayDeploymentId: target.deploymentId, function: target.functionName },
    // Slipway's own check runs are on this very commit and still running; GitHub answers
    // 409 unless required_contexts is given, and auto_merge would try to merge the base in.
    required_contexts: [],
    auto_merge: false,
    transient_environment: preview,
    production_environment: !preview,
  });
  if (!("id" in response.data)) throw new Error(`GitHub did not create a deployment: ${(response.data as { message?: string }).message ?? "no id"}`);
  return response.data.id;
}

export async function setGithubDeploymentStatus(
  octokit: Octokit,
  target: RepoRef & { githubDeploymentId: number },
  state: GithubDeploymentState,
  links: { environmentUrl?: string; logUrl?: string; description?: string } = {},
): Promise<void> {
  await octokit.rest.repos.createDeploymentStatus({
    owner: target.owner,
    repo: target.repo,
    deployment_id: target.githubDeploymentId,
    state,
    ...(links.environmentUrl ? { environment_url: links.environmentUrl } : {}),
    ...(links.logUrl ? { log_url: links.logUrl } : {}),
    ...(links.description ? { description: links.description.slice(0, 140) } : {}),
    // Slipway marks previews inactive itself when their pull request closes.
    auto_inactive: false,
  });
}
