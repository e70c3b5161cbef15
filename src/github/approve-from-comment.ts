// Owns `/slipway approve` as a comment command: the handler the comment handler calls for
// `approve` (it already reacted, checked permission and will reply with what this returns).
import { DeploymentActionError } from "../deployments/deployment-action-error.js";
import type { ScheduleDependencies } from "../deployments/schedule-builds.js";
import { approveForkBuild } from "./approve-fork-build.js";
import type { CommentEvent } from "./handle-comment.js";

export function approveFromComment(deps: ScheduleDependencies): (event: CommentEvent) => Promise<string> {
  return async (event) => {
    if (event.place.kind !== "issue") throw new DeploymentActionError("`/slipway approve` works in a pull request's comments");
    return approveForkBuild(deps, { octokit: event.octokit, owner: event.owner, repo: event.repo, number: event.place.number, approver: event.author.login, via: "comment" });
  };
}
