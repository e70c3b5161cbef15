// Owns the story of one comment: is it a command, 👀 to acknowledge, may this person run
// it (asked of GitHub's permission API), which function it means, do it, then reply with
// what happened and 🚀 or 👎 in place of 👀. Works on pull-request and commit comments.
import type { Queue } from "bullmq";
import type { Logger } from "pino";
import type { Config } from "../config/load-config.js";
import { DeploymentActionError } from "../deployments/deployment-action-error.js";
import { listRepositoryFunctions, loadFunctionState } from "../deployments/load-function-state.js";
import { redeployFunction } from "../deployments/redeploy-function.js";
import { resolveSwitchTarget, switchProduction } from "../deployments/switch-production.js";
import { unpinProduction } from "../deployments/unpin-production.js";
import { requestPrewarm } from "../gateway/request-activation.js";
import { functionUrl } from "../gateway/route-key.js";
import type { BuildJobData } from "../queue/build-queue.js";
import type { Database } from "../store/create-database.js";
import { collaboratorAccess, describeMissingAccess } from "./chatops/can-run-command.js";
import { parseCommand, type Command } from "./chatops/parse-command.js";
import { helpText, replyBody, statusTable, switchedMessage } from "./chatops/render-reply.js";
import type { GitHubClient, InstallationClients } from "./create-installation-client.js";
import { reportProductionSwitchLater, switchedOf } from "./report-production-switch.js";

export type CommentDependencies = {
  config: Config;
  db: Database;
  queue: Queue<BuildJobData>;
  github: InstallationClients;
  log: Logger;
  /** Commands owned elsewhere (e.g. `approve` for fork pull requests). */
  extraCommands?: Partial<Record<Command["name"], (event: CommentEvent) => Promise<string>>>;
};

export type CommentEvent = {
  octokit: GitHubClient;
  owner: string;
  repo: string;
  commentId: number;
  body: string;
  /** `association`: GitHub's author_association, used only to decide whether to prewarm. */
  author: { login: string; type: string; association?: string };
  /** Where the reply goes: the pull request / issue, or the commit. */
  place: { kind: "issue"; number: number } | { kind: "commit"; sha: string };
};

async function react(event: CommentEvent, content: "eyes" | "rocket" | "-1"): Promise<number | null> {
  const { octokit, owner, repo, commentId } = event;
  const response =
    event.place.kind === "issue"
      ? await octokit.rest.reactions.createForIssueComment({ owner, repo, comment_id: commentId, content })
      : await octokit.rest.reactions.createForCommitComment({ owner, repo, comment_id: commentId, content });
  return response.data.id;
}

async function removeReaction(event: CommentEvent, reactionId: number): Promise<void> {
  const { octokit, owner, repo, commentId } = event;
  if (event.place.kind === "issue") await octokit.rest.reactions.deleteForIssueComment({ owner, repo, comment_id: commentId, reaction_id: reactionId });
  else await octokit.rest.reactions.deleteForCommitComment({ owner, repo, comment_id: commentId, reaction_id: reactionId });
}

async function reply(event: CommentEvent, body: string): Promise<void> {
  const { octokit, owner, repo } = event;
  if (event.place.kind === "issue") await octokit.rest.issues.createComment({ owner, repo, issue_number: event.place.number, body });
  else await octokit.rest.repos.createCommitComment({ owner, repo, commit_sha: event.place.sha, body });
}

type RepositoryFunctions = { id: string; name: string }[];

function pickFunction(functions: RepositoryFunctions, functionName: string | undefined): string {
  const names = functions.map((f) => `\`${f.name}\``).join(", ");
  if (functions.length === 0) throw new DeploymentActionError("this repository has no functions deployed by Slipway yet");
  if (functionName) {
    const found = functions.find((f) => f.name === functionName);
    if (!found) throw new DeploymentActionError(`there is no function \`${functionName}\` here; the functions are ${names}`);
    return found.id;
  }
  if (functions.length > 1) {
    throw new DeploymentActionError(`this repository has several functions, so name one: ${names}. Nothing was changed.`);
  }
  return functions[0]!.id;
}

// GitHub's association is only a hint for starting a container early, never a permission.
const likelyWriters = new Set(["OWNER", "MEMBER", "COLLABORATOR"]);

/**
 * A rollback or promote by someone GitHub calls a collaborator starts the target's container
 * while the permission API is asked, so the answer's latency is not added to a cold start.
 * Nothing is routed: a refused command's container retires after the grace period.
 */
function prewarmIfLikelyAllowed(deps: CommentDependencies, event: CommentEvent, command: Command, repositoryFunctions: Promise<RepositoryFunctions>): void {
  if ((command.name !== "rollback" && command.name !== "promote") || !likelyWriters.has(event.author.association ?? "")) return;
  void (async () => {
    const functionId = pickFunction(await repositoryFunctions, command.functionName);
    const { deployment } = await resolveSwitchTarget(deps.db, { functionId, action: command.name, ...(command.target ? { target: command.target } : {}) });
    await requestPrewarm(deps.config.SLIPWAY_GATEWAY_URL, deps.config.SLIPWAY_GATEWAY_SECRET, deployment.id);
  })().catch(() => {
    // The command itself reports whatever is wrong.
  });
}

async function runCommand(deps: CommentDependencies, event: CommentEvent, command: Command, repositoryFunctions: Promise<RepositoryFunctions>): Promise<string> {
  const actor = event.author.login;
  switch (command.name) {
    case "rollback":
    case "promote": {
      const functionId = pickFunction(await repositoryFunctions, command.functionName);
      const result = await switchProduction(deps, { functionId, action: command.name, ...(command.target ? { target: command.target } : {}), actor, via: "comment" });
      reportProductionSwitchLater(deps, switchedOf(result, command.name, actor));
      return switchedMessage(result, command.name);
    }
    case "unpin": {
      const functionId = pickFunction(await repositoryFunctions, command.functionName);
      const result = await unpinProduction(deps.db, { functionId, actor, via: "comment" }, deps.log);
      return `Unpinned **${result.functionName}**: v${result.version} keeps serving, and the next push goes live.`;
    }
    case "redeploy": {
      const functionId = pickFunction(await repositoryFunctions, command.functionName);
      const result = await redeployFunction(deps, { functionId, noCache: command.noCache, actor, via: "comment" });
      return `Redeploying **${result.functionName}** from \`${result.commitSha.slice(0, 7)}\` as v${result.version}${command.noCache ? " without the build cache" : ""}; its check run shows the build.`;
    }
    case "status": {
      const functions = await repositoryFunctions;
      const rows = await Promise.all(
        functions.map(async (f) => {
          const state = await loadFunctionState(deps.db, f.id);
          const latest = state.deployments.at(-1);
          return {
            name: state.name,
            version: state.production?.version ?? null,
            pinned: state.production?.pinned ?? false,
            url: functionUrl(deps.config.publicUrl, state.slug),
            latest: latest ? `v${latest.version} ${latest.status}` : "–",
          };
        }),
      );
      return statusTable(`${event.owner}/${event.repo}`, rows);
    }
    case "help":
      return command.unknown ? `\`${command.unknown}\` is not a Slipway command.\n\n${helpText}` : helpText;
    default: {
      const handler = deps.extraCommands?.[command.name];
      if (!handler) throw new DeploymentActionError(`\`${command.name}\` is not available here`);
      return handler(event);
    }
  }
}

export async function handleComment(event: CommentEvent, deps: CommentDependencies): Promise<void> {
  if (event.author.type === "Bot") return;
  const parsed = parseCommand(event.body);
  if (!parsed) return;
  const log = deps.log.child({ repo: `${event.owner}/${event.repo}`, command: parsed.command.name, actor: event.author.login });
  // Reading which functions the repository has cannot change anything, and a likely
  // writer's target starts warming, while GitHub is asked; nothing is acted on until the
  // permission is known.
  const repositoryFunctions = listRepositoryFunctions(deps.db, event.owner, event.repo);
  repositoryFunctions.catch(() => {});
  prewarmIfLikelyAllowed(deps, event, parsed.command, repositoryFunctions);
  // 👀 is the first GitHub call: the commenter sees the command was seen before anything else.
  const eyes = await react(event, "eyes").catch(() => null);
  let outcome: "done" | "refused" = "done";
  let message: string;
  try {
    const access = await collaboratorAccess(event.octokit, event.owner, event.repo, event.author.login);
    if (!access.canDeploy && parsed.command.name !== "help") {
      throw new DeploymentActionError(`${describeMissingAccess(event.author.login, access, `${event.owner}/${event.repo}`, `\`/slipway ${parsed.command.name}\``)}.`);
    }
    message = await runCommand(deps, event, parsed.command, repositoryFunctions);
  } catch (error) {
    outcome = "refused";
    if (error instanceof DeploymentActionError) message = `Nothing changed: ${error.message}`;
    else {
      log.error({ err: error }, "a comment command failed");
      message = "Nothing changed: Slipway could not finish this command because of an internal error. The app's logs have the details.";
    }
  }
  await reply(event, replyBody(parsed.text, outcome, message));
  await react(event, outcome === "done" ? "rocket" : "-1");
  if (eyes !== null) await removeReaction(event, eyes).catch(() => {});
  log.info({ outcome }, "comment command handled");
}
