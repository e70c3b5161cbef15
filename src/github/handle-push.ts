// Owns the story of one push webhook: record it, then let scheduleBuilds read slipway.yml
// at the commit and, for every function that deploys from the pushed branch and changed,
// record a queued deployment, show a queued check run and enqueue its build (skipped
// functions get a neutral check run). It answers quickly; the work is the worker's.
import { scheduleBuilds, type ScheduleDependencies } from "../deployments/schedule-builds.js";
import { upsertRepository, type RepositoryRecord } from "../store/repositories.js";
import type { GitHubClient } from "./create-installation-client.js";

export type PushDependencies = ScheduleDependencies;

export type PushEvent = {
  deliveryId: string;
  octokit: GitHubClient;
  payload: {
    ref: string;
    after: string;
    deleted: boolean;
    head_commit: { message: string } | null;
    repository: { id: number; name: string; owner: { login: string; name?: string | null }; clone_url: string; default_branch?: string; master_branch?: string };
    installation?: { id: number };
  };
};

export async function handlePush(event: PushEvent, deps: PushDependencies): Promise<void> {
  const { payload, octokit, deliveryId } = event;
  const log = deps.log.child({ deliveryId, repo: payload.repository.name, sha: payload.after });
  if (payload.deleted || !payload.ref.startsWith("refs/heads/") || !payload.installation) return;

  const repository: RepositoryRecord = {
    id: payload.repository.id,
    installationId: payload.installation.id,
    owner: payload.repository.owner.login,
    name: payload.repository.name,
    cloneUrl: payload.repository.clone_url,
    defaultBranch: payload.repository.default_branch ?? payload.repository.master_branch ?? "main",
  };
  const target = { owner: repository.owner, repo: repository.name, sha: payload.after };
  await upsertRepository(deps.db, repository);

  const branch = payload.ref.slice("refs/heads/".length);
  const scheduled = await scheduleBuilds(deps, {
    octokit,
    repository,
    sha: target.sha,
    ref: payload.ref,
    alias: "production",
    pullRequest: null,
    branch,
    trigger: "push",
    deliveryId,
    headCommitMessage: payload.head_commit?.message ?? null,
    trusted: true,
    via: "push",
  });
  if (scheduled === null) log.info("no slipway.yml at this commit; nothing to deploy");
}
