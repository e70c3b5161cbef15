// Owns "Re-run" on GitHub: check_run.rerequested rebuilds that run's deployment, and
// check_suite.rerequested rebuilds every deployment of the commit, each as a new version
// for the same aliases, through the same scheduling as a push (fork code stays gated).
import { randomUUID } from "node:crypto";
import { scheduleBuilds, type ScheduleDependencies } from "../deployments/schedule-builds.js";
import { listDeploymentTargets } from "../store/deployment-targets.js";
import { getBuildContext } from "../store/deployments.js";
import { getPullRequest } from "../store/pull-requests.js";
import { getRepositoryByName } from "../store/repositories.js";
import type { GitHubClient } from "./create-installation-client.js";

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export type RerunEvent = { octokit: GitHubClient; owner: string; repo: string; deliveryId: string } & (
  | { kind: "check_run"; externalId: string | null }
  | { kind: "check_suite"; headSha: string }
);

export async function handleRerun(event: RerunEvent, deps: ScheduleDependencies): Promise<string[]> {
  const repository = await getRepositoryByName(deps.db, event.owner, event.repo);
  if (!repository) return [];
  let deploymentIds: string[];
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
