// Owns approving a fork pull request's head commit for a build: the approver must have
// write, maintain or admin permission (asked of GitHub's permission API, never
// author_association), the approval is for that exact commit, and the build it starts is
// untrusted (trusted=false: it never receives secret variables).
import { randomUUID } from "node:crypto";
import { DeploymentActionError } from "../deployments/deployment-action-error.js";
import { scheduleBuilds, type ScheduleDependencies } from "../deployments/schedule-builds.js";
import type { AuditVia } from "../store/audit-log.js";
import { approvePullRequestHead, getPullRequest } from "../store/pull-requests.js";
import { getRepositoryByName } from "../store/repositories.js";
import { collaboratorAccess, describeMissingAccess } from "./chatops/can-run-command.js";
import type { GitHubClient } from "./create-installation-client.js";

export type ApproveRequest = {
  octokit: GitHubClient;
  owner: string;
  repo: string;
  number: number;
  approver: string;
  /** The commit being approved (the check run's head sha for a button); default: the current head. */
  sha?: string;
  via: AuditVia;
};

/** Returns what happened, in a sentence for a reply; throws DeploymentActionError when refused. */
export async function approveForkBuild(deps: ScheduleDependencies, request: ApproveRequest): Promise<string> {
  const repository = await getRepositoryByName(deps.db, request.owner, request.repo);
  const pr = repository ? await getPullRequest(deps.db, repository.id, request.number) : null;
  if (!repository || !pr) throw new DeploymentActionError(`Slipway has not seen pull request #${request.number} yet`);
  if (!pr.isFork) throw new DeploymentActionError(`#${request.number} is not from a fork, so it needs no approval`);
  if (pr.state !== "open") throw new DeploymentActionError(`#${request.number} is closed`);
  const access = await collaboratorAccess(request.octokit, request.owner, request.repo, request.approver);
  if (!access.canDeploy) {
    throw new DeploymentActionError(describeMissingAccess(request.approver, access, `${request.owner}/${request.repo}`, "approving a fork's build"));
  }
  const sha = request.sha ?? pr.headSha;
  if (sha !== pr.headSha) {
    throw new DeploymentActionError(`\`${sha.slice(0, 7)}\` is no longer the head of #${request.number} (\`${pr.headSha.slice(0, 7)}\` is); approve the new commit`);
  }
  if (pr.approvedSha === sha) return `\`${sha.slice(0, 7)}\` was already approved by @${pr.approvedBy}; its build is under way.`;
  if (!(await approvePullRequestHead(deps.db, repository.id, pr.number, sha, request.approver))) {
    throw new DeploymentActionError(`#${request.number} moved on while approving; approve the new head commit`);
  }
  const scheduled = await scheduleBuilds(deps, {
    octokit: request.octokit,
    repository,
    sha,
    ref: `refs/pull/${pr.number}/head`,
    alias: `pr-${pr.number}`,
    pullRequest: { ...pr, approvedSha: sha, approvedBy: request.approver },
    branch: null,
    trigger: "pull_request",
    deliveryId: `approve-${randomUUID()}`,
    headCommitMessage: null,
    trusted: false,
    via: request.via,
  });
  const building = (scheduled ?? []).filter((s) => s.outcome === "queued" || s.outcome === "reused").map((s) => `\`${s.id}\``);
  deps.log.info({ number: pr.number, sha, approver: request.approver, building }, "fork build approved");
  return `Approved \`${sha.slice(0, 7)}\` from the fork for a build without secrets; building ${building.length > 0 ? building.join(", ") : "nothing (no function changed)"}. A new commit needs a new approval.`;
}
