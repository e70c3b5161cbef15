// Owns "one check run per function and commit". GitHub never lets a completed run change
// again, so a run that may still become a build's (a fork commit waiting for approval) stays
// open, `queued` with its Approve button, and becomes that build's run once approved; a
// second event that would only repeat a run already there (a skip, a wait) changes nothing.
// Only a new build of a commit already built (a re-run, a rebuild) adds a run of the same
// name, which GitHub then shows in place of the older one.
import type { Octokit } from "@octokit/rest";
import type { Database } from "../store/create-database.js";
import { getCommitCheckRun, listWaitingCheckRuns, setCommitCheckRun, type CommitCheckRunKey } from "../store/commit-check-runs.js";
import type { CheckRunAction } from "./check-run-actions.js";
import { completeCheckRun, createCheckRun, type CheckRunConclusion, type RepoRef } from "./check-runs.js";
import type { CheckRunOutput } from "./render-check-run.js";

export type CommitRunTarget = RepoRef & CommitCheckRunKey & { detailsUrl: string };

/**
 * The external id of a run that is not a build's: what a Re-run of it should build again,
 * the commit for this alias (see handle-rerun.ts).
 */
export const commitRunExternalId = (alias: string) => `commit:${alias}`;
export const aliasOfCommitRun = (externalId: string | null) => (externalId?.startsWith("commit:") ? externalId.slice("commit:".length) : null);

/** A completed run that is not a build's: a skip, a refusal, a function that cannot be deployed. */
export async function reportCommitOutcome(
  db: Database,
  octokit: Octokit,
  target: CommitRunTarget & { externalId?: string },
  conclusion: CheckRunConclusion,
  output: CheckRunOutput,
): Promise<void> {
  const existing = await getCommitCheckRun(db, target);
  if (existing?.state === "waiting") {
    await completeCheckRun(octokit, { ...target, checkRunId: existing.checkRunId }, conclusion, output);
    await setCommitCheckRun(db, target, { ...existing, state: "done" });
    return;
  }
  // The run already there speaks for this commit (a second event for it, say a push and a PR).
  if (existing) return;
  const checkRunId = await createCheckRun(octokit, target, { conclusion }, output);
  await setCommitCheckRun(db, target, { checkRunId, state: "done", deploymentId: null });
}

/** The run of a fork commit's function waiting for approval: open, with the Approve button. */
export async function reportAwaitingApproval(db: Database, octokit: Octokit, target: CommitRunTarget, actions: CheckRunAction[], output: CheckRunOutput): Promise<void> {
  const existing = await getCommitCheckRun(db, target);
  if (existing) return; // waiting already, or built or decided since
  const checkRunId = await createCheckRun(octokit, { ...target, actions }, { status: "queued" }, output);
  await setCommitCheckRun(db, target, { checkRunId, state: "waiting", deploymentId: null });
}

/** The run of a new build: the commit's waiting run when there is one, else a new run. */
export async function openBuildCheckRun(
  db: Database,
  octokit: Octokit,
  target: CommitRunTarget & { deploymentId: string; actions: CheckRunAction[] },
  output: CheckRunOutput,
): Promise<number> {
  const existing = await getCommitCheckRun(db, target);
  let checkRunId: number;
  if (existing?.state === "waiting") {
    checkRunId = existing.checkRunId;
    await octokit.rest.checks.update({
      owner: target.owner,
      repo: target.repo,
      check_run_id: checkRunId,
      status: "queued",
      external_id: target.deploymentId,
      details_url: target.detailsUrl,
      actions: target.actions,
      output,
    });
  } else {
    checkRunId = await createCheckRun(octokit, { ...target, externalId: target.deploymentId }, { status: "queued" }, output);
  }
  await setCommitCheckRun(db, target, { checkRunId, state: "building", deploymentId: target.deploymentId });
  return checkRunId;
}

/** Completes the runs at a commit that will never be approved now (a new head, a closed PR). */
export async function closeWaitingCheckRuns(db: Database, octokit: Octokit, repo: RepoRef & { repositoryId: number }, sha: string, reason: string): Promise<number> {
  const waiting = await listWaitingCheckRuns(db, repo.repositoryId, sha);
  for (const run of waiting) {
    await completeCheckRun(octokit, { ...repo, checkRunId: run.checkRunId }, "skipped", { title: "Not built", summary: `Not built: ${reason}.` });
    await setCommitCheckRun(db, run, { checkRunId: run.checkRunId, state: "done", deploymentId: null });
  }
  return waiting.length;
}
