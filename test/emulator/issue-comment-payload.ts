import { baseUrlsOf } from "./base-urls-of.js";
import { createGitHubShapes } from "./create-github-shapes.js";
import type { JsonObject, RepoRecord } from "./emulator-types.js";
import { loadWebhookExample } from "./load-webhook-example.js";
import { retargetWebhookExample } from "./retarget-webhook-example.js";

export interface IssueCommentPayloadInput {
  repo: RepoRecord;
  /** Issue or pull request number. */
  issueNumber: number;
  /** The comment as the emulator renders it (createIssueComment() result); takes precedence over body/user. */
  comment?: JsonObject | { id: number; body: string; [key: string]: unknown };
  body?: string;
  /** Comment author (default: repository owner). */
  user?: string;
  userType?: "User" | "Bot";
  /** Default `created`. */
  action?: "created" | "edited" | "deleted";
  /** Comments on pull requests arrive as issue_comment with `issue.pull_request` set (default true). */
  isPullRequest?: boolean;
  issueTitle?: string;
  /** Author of the issue / PR (default: repository owner). */
  issueUser?: string;
  commentId?: number;
}

/**
 * An `issue_comment` webhook payload built from @octokit/webhooks-examples' real example,
 * retargeted at an emulator repository and comment.
 */
export function issueCommentPayload(input: IssueCommentPayloadInput): JsonObject {
  const { repo, issueNumber } = input;
  const action = input.action ?? "created";
  const shapes = createGitHubShapes(baseUrlsOf(repo));
  const given = input.comment as JsonObject | undefined;
  const givenUser = given?.user as JsonObject | undefined;
  const login = typeof givenUser?.login === "string" ? givenUser.login : (input.user ?? repo.owner);
  const userType = givenUser?.type === "Bot" ? "Bot" : (input.userType ?? "User");
  const example = loadWebhookExample("issue_comment", (e) => e.action === action);
  const payload = retargetWebhookExample(example, repo, { sender: login, senderType: userType, style: "default" });
  const api = shapes.repoApiUrl(repo);
  const html = shapes.repoHtmlUrl(repo);
  const isPull = input.isPullRequest ?? true;
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  const issueUrl = `${api}/issues/${issueNumber}`;
  const issueHtml = `${html}/${isPull ? "pull" : "issues"}/${issueNumber}`;

  const issue: JsonObject = {
    ...(payload.issue as JsonObject),
    url: issueUrl,
    repository_url: api,
    labels_url: `${issueUrl}/labels{/name}`,
    comments_url: `${issueUrl}/comments`,
    events_url: `${issueUrl}/events`,
    html_url: issueHtml,
    number: issueNumber,
    title: input.issueTitle ?? `Issue ${issueNumber}`,
    user: shapes.user(input.issueUser ?? repo.owner),
    labels: [],
    state: "open",
    locked: false,
    assignee: null,
    assignees: [],
    milestone: null,
    active_lock_reason: null,
    comments: 1,
    author_association: (input.issueUser ?? repo.owner).toLowerCase() === repo.owner.toLowerCase() ? "OWNER" : "NONE",
    reactions: shapes.reactionRollup(`${issueUrl}/reactions`, []),
    timeline_url: `${issueUrl}/timeline`,
    performed_via_github_app: null,
    created_at: now,
    updated_at: now,
    closed_at: null,
  };
  if (isPull) {
    issue.pull_request = {
      url: `${api}/pulls/${issueNumber}`,
      html_url: `${html}/pull/${issueNumber}`,
      diff_url: `${html}/pull/${issueNumber}.diff`,
      patch_url: `${html}/pull/${issueNumber}.patch`,
      merged_at: null,
    };
  } else {
    delete issue.pull_request;
  }

  const id = typeof given?.id === "number" ? given.id : (input.commentId ?? 2_400_000_000 + Math.floor(Math.random() * 1_000_000));
  const commentUrl = `${api}/issues/comments/${id}`;
  const comment: JsonObject = {
    ...(payload.comment as JsonObject),
    url: commentUrl,
    html_url: `${issueHtml}#issuecomment-${id}`,
    issue_url: issueUrl,
    id,
    node_id: shapes.nodeId("IssueComment", id),
    user: userType === "Bot" ? shapes.user(login, "Bot") : shapes.user(login),
    created_at: now,
    updated_at: now,
    author_association: login.toLowerCase() === repo.owner.toLowerCase() ? "OWNER" : "NONE",
    body: input.body ?? "",
    reactions: shapes.reactionRollup(`${commentUrl}/reactions`, []),
    performed_via_github_app: null,
    ...(given ? structuredClone(given) : {}),
  };
  payload.action = action;
  payload.issue = issue;
  payload.comment = comment;
  if (action !== "edited") delete payload.changes;
  return payload;
}
