// Owns the buttons on Slipway's check runs (check_run.requested_action): who pressed it
// may act only with write, maintain or admin permission (GitHub's permission API), then
// the handler registered for the button's identifier runs: cancel, approve, and rollback /
// promote, which are the same actions as the comment commands. A press that changes
// nothing is answered where the presser sees it: a comment on the commit that mentions them.
import { cancelDeployment } from "../deployments/cancel-deployment.js";
import { DeploymentActionError } from "../deployments/deployment-action-error.js";
import type { ScheduleDependencies } from "../deployments/schedule-builds.js";
import { switchProduction } from "../deployments/switch-production.js";
import { getRepositoryByName } from "../store/repositories.js";
import { switchedMessage } from "./chatops/render-reply.js";
import { approveForkBuild } from "./approve-fork-build.js";
import { collaboratorAccess, describeMissingAccess } from "./chatops/can-run-command.js";
import type { GitHubClient } from "./create-installation-client.js";
import { reportProductionSwitchLater, switchedOf } from "./report-production-switch.js";

export type CheckRunActionEvent = {
  octokit: GitHubClient;
  owner: string;
  repo: string;
  identifier: string;
  actor: string;
  checkRun: { id: number; headSha: string; externalId: string | null; name: string };
};

/** Returns a sentence saying what happened; throws DeploymentActionError when it cannot act. */
export type CheckRunActionHandler = (event: CheckRunActionEvent, deps: ScheduleDependencies) => Promise<string>;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function functionOfCheckRun(event: CheckRunActionEvent, deps: ScheduleDependencies): Promise<string> {
  const deploymentId = event.checkRun.externalId ?? "";
  if (!uuidPattern.test(deploymentId)) throw new DeploymentActionError("this check run has no Slipway deployment");
  const row = await deps.db.query<{ function_id: string }>("select function_id from deployments where id = $1", [deploymentId]);
  if (!row.rows[0]) throw new DeploymentActionError("this check run's deployment no longer exists");
  return row.rows[0].function_id;
}

export const checkRunActionHandlers: Record<string, CheckRunActionHandler> = {
  // On a live build's run: go back to the previous ready version, and pin production.
  async rollback(event, deps) {
    const functionId = await functionOfCheckRun(event, deps);
    const result = await switchProduction(deps, { functionId, action: "rollback", actor: event.actor, via: "button" });
    reportProductionSwitchLater(deps, switchedOf(result, "rollback", event.actor));
    return switchedMessage(result, "rollback");
  },
  // On a preview's run: serve exactly this build in production, without rebuilding it.
  async promote(event, deps) {
    const functionId = await functionOfCheckRun(event, deps);
    const result = await switchProduction(deps, { functionId, action: "promote", target: event.checkRun.externalId!, actor: event.actor, via: "button" });
    reportProductionSwitchLater(deps, switchedOf(result, "promote", event.actor));
    return switchedMessage(result, "promote");
  },
  async cancel(event, deps) {
    const deploymentId = event.checkRun.externalId ?? "";
    if (!uuidPattern.test(deploymentId)) throw new DeploymentActionError("this check run has no Slipway deployment to cancel");
    const result = await cancelDeployment(deps, { deploymentId, actor: event.actor, via: "button", reason: `cancelled by @${event.actor}` });
    return result.cancelled ? `cancelled v${result.version} of ${result.functionName}` : `v${result.version} of ${result.functionName} is already ${result.status}`;
  },
  async approve(event, deps) {
    const repository = await getRepositoryByName(deps.db, event.owner, event.repo);
    const found = repository
      ? await deps.db.query<{ number: number }>("select number from pull_requests where repository_id = $1 and head_sha = $2 and state = 'open' and is_fork", [repository.id, event.checkRun.headSha])
      : null;
    const number = found?.rows[0]?.number;
    if (number === undefined) throw new DeploymentActionError(`\`${event.checkRun.headSha.slice(0, 7)}\` is not the head of an open fork pull request`);
    return approveForkBuild(deps, { octokit: event.octokit, owner: event.owner, repo: event.repo, number, approver: event.actor, sha: event.checkRun.headSha, via: "button" });
  },
};

export async function handleCheckRunAction(event: CheckRunActionEvent, deps: ScheduleDependencies): Promise<string> {
  const log = deps.log.child({ repo: `${event.owner}/${event.repo}`, action: event.identifier, actor: event.actor, checkRunId: event.checkRun.id });
  const handler = checkRunActionHandlers[event.identifier];
  if (!handler) {
    log.info("no handler for this check-run button");
    return `\`${event.identifier}\` is not a Slipway button`;
  }
  try {
    const access = await collaboratorAccess(event.octokit, event.owner, event.repo, event.actor);
    if (!access.canDeploy) throw new DeploymentActionError(describeMissingAccess(event.actor, access, `${event.owner}/${event.repo}`, `the **${event.identifier}** button`));
    const outcome = await handler(event, deps);
    log.info({ outcome }, "check-run button handled");
    return outcome;
  } catch (error) {
    if (!(error instanceof DeploymentActionError)) throw error;
    log.info({ refused: error.message }, "check-run button refused");
    const answer = `Nothing changed: ${error.message}`;
    await event.octokit.rest.repos.createCommitComment({
      owner: event.owner,
      repo: event.repo,
      commit_sha: event.checkRun.headSha,
      body: `@${event.actor} you pressed **${event.identifier}** on \`${event.checkRun.name}\`. ${answer}`,
    });
    return answer;
  }
}
