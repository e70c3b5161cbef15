// Owns wiring the pull-request side of Slipway into Probot: pull_request (previews),
// check_run.requested_action (buttons), and check_run / check_suite re-runs.
import type { Probot } from "probot";
import type { ScheduleDependencies } from "../deployments/schedule-builds.js";
import { clientForDelivery } from "./client-for-delivery.js";
import { handleCheckRunAction } from "./handle-check-run-action.js";
import { handlePullRequest, type PullRequestEvent } from "./handle-pull-request.js";
import { handleRerun } from "./handle-rerun.js";

export function registerPullRequestHandlers(app: Probot, deps: ScheduleDependencies): void {
  app.on(["pull_request.opened", "pull_request.synchronize", "pull_request.reopened", "pull_request.closed"], async (context) => {
    await handlePullRequest(
      { deliveryId: context.id, octokit: clientForDelivery(deps.github, context), payload: context.payload as unknown as PullRequestEvent["payload"] },
      deps,
    );
  });
  app.on("check_run.requested_action", async (context) => {
    const { check_run: checkRun, requested_action: action, repository, sender } = context.payload;
    await handleCheckRunAction(
      {
        octokit: clientForDelivery(deps.github, context),
        owner: repository.owner.login,
        repo: repository.name,
        identifier: action?.identifier ?? "",
        actor: sender.login,
        checkRun: { id: checkRun.id, headSha: checkRun.head_sha, externalId: checkRun.external_id ?? null, name: checkRun.name },
      },
      deps,
    );
  });
  app.on("check_run.rerequested", async (context) => {
    const { check_run: checkRun, repository } = context.payload;
    await handleRerun(
      { kind: "check_run", externalId: checkRun.external_id ?? null, name: checkRun.name, headSha: checkRun.head_sha, octokit: clientForDelivery(deps.github, context), owner: repository.owner.login, repo: repository.name, deliveryId: context.id },
      deps,
    );
  });
  app.on("check_suite.rerequested", async (context) => {
    const { check_suite: checkSuite, repository } = context.payload;
    await handleRerun(
      { kind: "check_suite", headSha: checkSuite.head_sha, octokit: clientForDelivery(deps.github, context), owner: repository.owner.login, repo: repository.name, deliveryId: context.id },
      deps,
    );
  });
}
