// Owns what a closed pull request leaves behind: nothing. Its builds in flight are
// cancelled (unless another alias still needs them), its preview alias is removed from
// the gateway (which stops the containers only it needed), its GitHub Deployments become
// inactive, and the sticky comment says the previews are gone.
import type { GitHubClient } from "../github/create-installation-client.js";
import { setGithubDeploymentStatus } from "../github/github-deployments.js";
import { requestAliasRemoval } from "../gateway/request-alias-removal.js";
import { dropDeploymentTarget, listTargetsForAlias } from "../store/deployment-targets.js";
import { reportLater } from "../store/github-reports.js";
import type { RepositoryRecord } from "../store/repositories.js";
import { cancelDeployment, type CancelDependencies } from "./cancel-deployment.js";

export async function closePullRequestPreviews(
  deps: CancelDependencies,
  request: { octokit: GitHubClient; repository: RepositoryRecord; number: number },
): Promise<{ cancelled: number; aliasesRemoved: number }> {
  const alias = `pr-${request.number}`;
  const repo = { owner: request.repository.owner, repo: request.repository.name };
  const targets = await listTargetsForAlias(deps.db, request.repository.id, alias);
  let cancelled = 0;
  for (const target of targets) {
    if (target.dropped || (target.status !== "queued" && target.status !== "building")) continue;
    if ((await dropDeploymentTarget(deps.db, target.deploymentId, alias)) > 0) continue;
    const result = await cancelDeployment(deps, { deploymentId: target.deploymentId, actor: "slipway", via: "system", reason: `pull request #${request.number} was closed` });
    if (result.cancelled) cancelled++;
  }
  let aliasesRemoved = 0;
  for (const functionId of new Set(targets.map((t) => t.functionId))) {
    const result = await requestAliasRemoval(deps.config.SLIPWAY_GATEWAY_URL, deps.config.SLIPWAY_GATEWAY_SECRET, { functionId, alias });
    if (result.removed) aliasesRemoved++;
  }
  for (const target of targets) {
    if (target.githubDeploymentId === null || target.status === "cancelled") continue;
    await setGithubDeploymentStatus(request.octokit, { ...repo, githubDeploymentId: target.githubDeploymentId }, "inactive", {
      description: `pull request #${request.number} was closed`,
    }).catch((error: Error) => deps.log.warn({ err: { message: error.message } }, "could not mark a GitHub Deployment inactive"));
  }
  await reportLater(deps.db, { kind: "pull-request", repositoryId: request.repository.id, number: request.number, ...repo, installationId: request.repository.installationId });
  deps.log.info({ number: request.number, cancelled, aliasesRemoved }, "pull request previews removed");
  return { cancelled, aliasesRemoved };
}
