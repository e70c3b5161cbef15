// Owns "Re-run" on GitHub: check_run.rerequested rebuilds that run's deployment, and
// check_suite.rerequested rebuilds every deployment of the commit, each as a new version
// for the same aliases, through the same scheduling as a push (fork code stays gated). A run
// that was not a build's (skipped, an invalid slipway.yml) builds its commit for its alias
// now, whatever changed; one that cannot be re-run says why in a run of its own.
import { randomUUID } from "node:crypto";
import { scheduleBuilds, type ScheduleDependencies } from "../deployments/schedule-builds.js";
import { listDeploymentTargets } from "../store/deployment-targets.js";
import { getBuildContext } from "../store/deployments.js";
import { getPullRequest } from "../store/pull-requests.js";
import { getRepositoryByName, type RepositoryRecord } from "../store/repositories.js";
import { createCheckRun } from "./check-runs.js";
import { aliasOfCommitRun } from "./commit-check-run.js";
import type { GitHubClient } from "./create-installation-client.js";
import { appwriteConfigFileName } from "../config/parse-appwrite-config.js";
import { configFileName } from "../config/parse-slipway-config.js";
import { appwriteConfigCheckRunName, checkRunName, configCheckRunName } from "./render-check-run.js";

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export type RerunEvent = { octokit: GitHubClient; owner: string; repo: string; deliveryId: string } & (
  | { kind: "check_run"; externalId: string | null; name: string; headSha: string }
  | { kind: "check_suite"; headSha: string }
);

export async function handleRerun(event: RerunEvent, deps: ScheduleDependencies): Promise<string[]> {
  const repository = await getRepositoryByName(deps.db, event.owner, event.repo);
  if (!repository) return [];
  let deploymentIds: string[];
  if (event.kind === "check_run" && !(event.externalId && uuidPattern.test(event.externalId))) {
    return rerunCommitRun(deps, repository, event);
  }
  if (event.kind === "check_run") {
    deploymentIds = event.externalId && uuidPattern.test(event.externalId) ? [event.externalId] : [];
  } else {
    const latest = await deps.db.query<{ id: string }>(
      `select distinct on (d.function_id) d.id from deployments d join functions f on f.id = d.function_id
        where f.repository_id = $1 and d.commit_sha = $2 order by d.function_id, d.version desc`,
      [repository.id, event.headSha],
    );
    deploymentIds = latest.rows.map((r) => r.id);
  }
  const queued: string[] = [];
  for (const deploymentId of deploymentIds) {
    const old = await getBuildContext(deps.db, deploymentId);
    if (!old || old.repositoryId !== repository.id) continue;
    const trusted = (await deps.db.query<{ trusted: boolean }>("select trusted from deployments where id = $1", [deploymentId])).rows[0]!.trusted;
    const targets = await listDeploymentTargets(deps.db, deploymentId);
    const aliases = targets.length > 0 ? targets.map((t) => ({ alias: t.alias, number: t.pullRequestNumber })) : [{ alias: "production", number: null }];
    let first = true;
    for (const target of aliases) {
      const pullRequest = target.number === null ? null : await getPullRequest(deps.db, repository.id, target.number);
      // An old commit of a pull request, or a closed one, has nothing left to preview.
      if (target.number !== null && (!pullRequest || pullRequest.state !== "open" || pullRequest.headSha !== old.commitSha)) continue;
      const scheduled = await scheduleBuilds(deps, {
        octokit: event.octokit,
        repository,
        sha: old.commitSha,
        ref: old.ref,
        alias: target.alias,
        pullRequest,
        branch: null,
        trigger: "rerun",
        deliveryId: `rerun-${event.deliveryId}-${randomUUID()}`,
        headCommitMessage: null,
        // Only the first alias makes a new build; the others join it.
        force: true,
        rebuild: first,
        onlyFunctions: [old.functionName],
        trusted,
        via: "button",
      });
      first = false;
      for (const s of scheduled ?? []) if (s.deploymentId && !queued.includes(s.deploymentId)) queued.push(s.deploymentId);
    }
  }
  deps.log.info({ repo: event.repo, kind: event.kind, queued }, "re-run requested");
  return queued;
}

/** Re-run of a run that was not a build's: its commit, built now for the alias it was for. */
async function rerunCommitRun(deps: ScheduleDependencies, repository: RepositoryRecord, event: RerunEvent & { kind: "check_run" }): Promise<string[]> {
  const alias = aliasOfCommitRun(event.externalId);
  const functionName = event.name.startsWith(checkRunName("")) ? event.name.slice(checkRunName("").length) : null;
  const number = alias?.startsWith("pr-") ? Number(alias.slice(3)) : null;
  const pullRequest = number === null ? null : await getPullRequest(deps.db, repository.id, number);
  let whyNot: string | null = null;
  if (alias === null) whyNot = "Slipway cannot tell what this run was for; push again to deploy";
  else if (event.name === configCheckRunName) whyNot = `a re-run reads the same \`${configFileName}\` (or \`${appwriteConfigFileName}\`) at this commit, and it is invalid; fix it and push again`;
  else if (event.name === appwriteConfigCheckRunName) whyNot = `this run only tells how \`${appwriteConfigFileName}\` was read; re-run a function's own run to build it again`;
  else if (number !== null && (!pullRequest || pullRequest.state !== "open")) whyNot = `#${number} is closed, so it has no preview to build`;
  else if (pullRequest && pullRequest.headSha !== event.headSha) whyNot = `\`${event.headSha.slice(0, 7)}\` is no longer the head of #${number}`;
  if (whyNot !== null || alias === null) {
    await createCheckRun(
      event.octokit,
      { owner: event.owner, repo: event.repo, sha: event.headSha, name: event.name, detailsUrl: `${deps.config.appUrl}/` },
      { conclusion: "neutral" },
      { title: "Not re-run", summary: `Nothing was built: ${whyNot}.` },
    );
    deps.log.info({ repo: event.repo, name: event.name, reason: whyNot }, "re-run refused");
    return [];
  }
  const scheduled = await scheduleBuilds(deps, {
    octokit: event.octokit,
    repository,
    sha: event.headSha,
    ref: pullRequest ? `refs/pull/${pullRequest.number}/head` : `refs/heads/${repository.defaultBranch}`,
    alias,
    pullRequest,
    branch: null,
    trigger: "rerun",
    deliveryId: `rerun-${event.deliveryId}`,
    headCommitMessage: null,
    force: true,
    ...(functionName ? { onlyFunctions: [functionName] } : {}),
    trusted: !pullRequest?.isFork,
    via: "button",
  });
  const queued = (scheduled ?? []).flatMap((s) => (s.deploymentId ? [s.deploymentId] : []));
  deps.log.info({ repo: event.repo, name: event.name, alias, queued }, "re-run of a run that was not a build's");
  return queued;
}
