// Owns the story of one pull_request webhook: record it and the pull request; opened,
// synchronize or reopened builds the changed functions as previews (alias pr-<n>), held
// for approval when the code comes from a fork; closed removes the previews.
import { closePullRequestPreviews } from "../deployments/close-pull-request-previews.js";
import { scheduleBuilds, type ScheduleDependencies } from "../deployments/schedule-builds.js";
import { getPullRequest, upsertPullRequest } from "../store/pull-requests.js";
import { upsertRepository, type RepositoryRecord } from "../store/repositories.js";
import { closeWaitingCheckRuns } from "./commit-check-run.js";
import type { GitHubClient } from "./create-installation-client.js";

export type PullRequestEvent = {
  deliveryId: string;
  octokit: GitHubClient;
  payload: {
    action: string;
    number: number;
    pull_request: {
      head: { sha: string; ref: string; repo: { id: number } | null };
      base: { sha: string; ref: string; repo: { id: number } };
      user: { login: string } | null;
    };
    repository: { id: number; name: string; owner: { login: string }; clone_url: string; default_branch?: string };
    installation?: { id: number };
  };
};

const buildActions = new Set(["opened", "synchronize", "reopened"]);

export async function handlePullRequest(event: PullRequestEvent, deps: ScheduleDependencies): Promise<void> {
  const { payload, octokit, deliveryId } = event;
  if (!payload.installation || (!buildActions.has(payload.action) && payload.action !== "closed")) return;
  const log = deps.log.child({ deliveryId, repo: payload.repository.name, pullRequest: payload.number, action: payload.action });
  const repository: RepositoryRecord = {
    id: payload.repository.id,
    installationId: payload.installation.id,
    owner: payload.repository.owner.login,
    name: payload.repository.name,
    cloneUrl: payload.repository.clone_url,
    defaultBranch: payload.repository.default_branch ?? "main",
  };
  await upsertRepository(deps.db, repository);
  const head = payload.pull_request.head;
  const previousHead = (await getPullRequest(deps.db, repository.id, payload.number))?.headSha ?? null;
  // A deleted fork leaves head.repo null; that is still fork code.
  const isFork = head.repo === null || head.repo.id !== payload.pull_request.base.repo.id;
  const pullRequest = await upsertPullRequest(deps.db, {
    repositoryId: repository.id,
    number: payload.number,
    state: payload.action === "closed" ? "closed" : "open",
    headSha: head.sha,
    headRef: head.ref,
    baseSha: payload.pull_request.base.sha,
    baseRef: payload.pull_request.base.ref,
    isFork,
    author: payload.pull_request.user?.login ?? "",
  });

  // A commit that was waiting for approval never will be now: its runs say so instead of staying open.
  const repo = { owner: repository.owner, repo: repository.name, repositoryId: repository.id };
  if (previousHead && previousHead !== head.sha) {
    await closeWaitingCheckRuns(deps.db, octokit, repo, previousHead, `a newer commit (\`${head.sha.slice(0, 7)}\`) was pushed to #${payload.number} before this one was approved`);
  }
  if (payload.action === "closed") {
    await closeWaitingCheckRuns(deps.db, octokit, repo, head.sha, `#${payload.number} was closed before this commit was approved`);
    await closePullRequestPreviews(deps, { octokit, repository, number: payload.number });
  } else {
    const scheduled = await scheduleBuilds(deps, {
      octokit,
      repository,
      sha: head.sha,
      ref: `refs/pull/${payload.number}/head`,
      alias: `pr-${payload.number}`,
      pullRequest,
      branch: null,
      trigger: "pull_request",
      deliveryId,
      headCommitMessage: null,
      trusted: !isFork,
      via: "push",
    });
    log.info({ functions: scheduled?.map((s) => `${s.id}:${s.outcome}`) ?? [] }, "pull request handled");
  }
}
