// Owns telling GitHub where one build stands for each alias it was meant for: the GitHub
// Deployment status of each alias (the Deployment made on first report), and a new revision
// of the sticky comment of each pull request, which the reporting outbox sends. Every target
// is tried; the first failure is then thrown, so that the caller's report is tried again.
import type { Logger } from "pino";
import type { Config } from "../config/load-config.js";
import { deploymentUrl, functionUrl } from "../gateway/route-key.js";
import type { Database } from "../store/create-database.js";
import { listDeploymentTargets, setGithubDeploymentId } from "../store/deployment-targets.js";
import type { BuildContext } from "../store/deployments.js";
import { reportLater } from "../store/github-reports.js";
import type { InstallationClients } from "./create-installation-client.js";
import { createGithubDeployment, setGithubDeploymentStatus, type GithubDeploymentState } from "./github-deployments.js";

export type ReportDependencies = { config: Config; db: Database; github: InstallationClients; log: Logger };

export async function reportDeploymentTargets(
  deps: ReportDependencies,
  deployment: Pick<BuildContext, "deploymentId" | "installationId" | "owner" | "repo" | "repositoryId" | "slug" | "commitSha" | "functionName" | "version">,
  state: GithubDeploymentState | ((alias: string) => GithubDeploymentState | null),
  description?: string,
  /** `onlyNew`: only aliases that have no GitHub Deployment yet (a live-log update says nothing new to the others). */
  options: { onlyNew?: boolean } = {},
): Promise<void> {
  const octokit = deps.github.forInstallation(deployment.installationId);
  const repo = { owner: deployment.owner, repo: deployment.repo };
  const targets = await listDeploymentTargets(deps.db, deployment.deploymentId);
  let firstError: unknown = null;
  for (const target of targets) {
    if (options.onlyNew && target.githubDeploymentId !== null) continue;
    const stateFor = typeof state === "function" ? state(target.alias) : state;
    try {
      let githubDeploymentId = target.githubDeploymentId;
      if (githubDeploymentId === null && stateFor !== null && stateFor !== "inactive" && !target.dropped) {
        githubDeploymentId = await createGithubDeployment(octokit, { ...repo, sha: deployment.commitSha, alias: target.alias, functionName: deployment.functionName, deploymentId: deployment.deploymentId, version: deployment.version });
        await setGithubDeploymentId(deps.db, deployment.deploymentId, target.alias, githubDeploymentId);
        await setGithubDeploymentStatus(octokit, { ...repo, githubDeploymentId }, "queued", { logUrl: `${deps.config.appUrl}/deployments/${deployment.deploymentId}` });
      }
      if (githubDeploymentId !== null && stateFor !== null && stateFor !== "queued") {
        await setGithubDeploymentStatus(octokit, { ...repo, githubDeploymentId }, stateFor, {
          environmentUrl: stateFor === "success" ? functionUrl(deps.config.publicUrl, deployment.slug, target.alias) : deploymentUrl(deps.config.publicUrl, deployment.deploymentId),
          logUrl: `${deps.config.appUrl}/deployments/${deployment.deploymentId}`,
          ...(description ? { description } : {}),
        });
      }
    } catch (error) {
      deps.log.warn({ err: { message: (error as Error).message }, deploymentId: deployment.deploymentId, alias: target.alias }, "could not report the deployment to GitHub");
      firstError ??= error;
    }
    if (target.pullRequestNumber !== null) {
      await reportLater(deps.db, { kind: "pull-request", repositoryId: deployment.repositoryId, number: target.pullRequestNumber, owner: deployment.owner, repo: deployment.repo, installationId: deployment.installationId });
    }
  }
  if (firstError !== null) throw firstError;
}
