// Owns the check-run calls Slipway makes, so the rest of the code speaks in deployments
// and outcomes rather than REST fields.
import type { Octokit } from "@octokit/rest";
import type { CheckRunAction } from "./check-run-actions.js";
import type { CheckRunOutput } from "./render-check-run.js";

export type RepoRef = { owner: string; repo: string };
export type CheckRunConclusion = "success" | "failure" | "cancelled" | "timed_out" | "neutral" | "action_required" | "skipped";

export async function createCheckRun(
  octokit: Octokit,
  target: RepoRef & { sha: string; name: string; externalId?: string; detailsUrl?: string; actions?: CheckRunAction[] },
  state: { status: "queued" | "in_progress" } | { conclusion: CheckRunConclusion },
  output: CheckRunOutput,
): Promise<number> {
  const response = await octokit.rest.checks.create({
    owner: target.owner,
    repo: target.repo,
    head_sha: target.sha,
    name: target.name,
    ...(target.externalId ? { external_id: target.externalId } : {}),
    ...(target.detailsUrl ? { details_url: target.detailsUrl } : {}),
    ...(target.actions ? { actions: target.actions } : {}),
    ...("status" in state ? { status: state.status } : { status: "completed", conclusion: state.conclusion, completed_at: new Date().toISOString() }),
    output,
  });
  return response.data.id;
}

export async function markCheckRunInProgress(
  octokit: Octokit,
  target: RepoRef & { checkRunId: number; actions?: CheckRunAction[]; startedAt?: Date | null },
  output: CheckRunOutput,
): Promise<void> {
  await octokit.rest.checks.update({
    owner: target.owner,
    repo: target.repo,
    check_run_id: target.checkRunId,
    status: "in_progress",
    ...(target.actions ? { actions: target.actions } : {}),
    started_at: (target.startedAt ?? new Date()).toISOString(),
    output,
  });
}

export async function updateCheckRunOutput(octokit: Octokit, target: RepoRef & { checkRunId: number }, output: CheckRunOutput): Promise<void> {
  await octokit.rest.checks.update({ owner: target.owner, repo: target.repo, check_run_id: target.checkRunId, output });
}

export async function completeCheckRun(
  octokit: Octokit,
  target: RepoRef & { checkRunId: number; detailsUrl?: string; actions?: CheckRunAction[] },
  conclusion: CheckRunConclusion,
  output: CheckRunOutput,
): Promise<void> {
  await octokit.rest.checks.update({
    owner: target.owner,
    repo: target.repo,
    check_run_id: target.checkRunId,
    status: "completed",
    conclusion,
    completed_at: new Date().toISOString(),
    ...(target.detailsUrl ? { details_url: target.detailsUrl } : {}),
    // Always sent on completion, so a Cancel button shown while building goes away.
    actions: target.actions ?? [],
    output,
  });
}
