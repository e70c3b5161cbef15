import { baseUrlsOf } from "./base-urls-of.js";
import { createGitHubShapes } from "./create-github-shapes.js";
import type { JsonObject, RepoRecord } from "./emulator-types.js";
import { loadWebhookExample } from "./load-webhook-example.js";
import { retargetWebhookExample } from "./retarget-webhook-example.js";

export interface CommitCommentPayloadInput {
  repo: RepoRecord;
  /** Full sha of the commented commit. */
  sha: string;
  /** The comment as the emulator renders it (createCommitComment() result); takes precedence over the fields below. */
  comment?: JsonObject | { id: number; body: string; [key: string]: unknown };
  body?: string;
  /** Comment author (default: repository owner). */
  user?: string;
  userType?: "User" | "Bot";
  path?: string | null;
  line?: number | null;
  position?: number | null;
  commentId?: number;
}

/**
 * A `commit_comment` (action `created`) webhook payload built from
 * @octokit/webhooks-examples' real example, retargeted at an emulator repository.
 */
export function commitCommentPayload(input: CommitCommentPayloadInput): JsonObject {
  const { repo, sha } = input;
  const shapes = createGitHubShapes(baseUrlsOf(repo));
  const given = input.comment as JsonObject | undefined;
  const givenUser = given?.user as JsonObject | undefined;
  const login = typeof givenUser?.login === "string" ? givenUser.login : (input.user ?? repo.owner);
  const userType = givenUser?.type === "Bot" ? "Bot" : (input.userType ?? "User");
  const example = loadWebhookExample("commit_comment", (e) => e.installation !== undefined);
  const payload = retargetWebhookExample(example, repo, { sender: login, senderType: userType, style: "default" });
  const api = shapes.repoApiUrl(repo);
  const html = shapes.repoHtmlUrl(repo);
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  const id = typeof given?.id === "number" ? given.id : (input.commentId ?? 150_000_000 + Math.floor(Math.random() * 1_000_000));
  const url = `${api}/comments/${id}`;
  payload.action = "created";
  payload.comment = {
    ...(payload.comment as JsonObject),
    url,
    html_url: `${html}/commit/${sha}#commitcomment-${id}`,
    id,
    node_id: shapes.nodeId("CommitComment", id),
    user: userType === "Bot" ? shapes.user(login, "Bot") : shapes.user(login),
    position: input.position ?? null,
    line: input.line ?? null,
    path: input.path ?? null,
    commit_id: sha,
    created_at: now,
    updated_at: now,
    author_association: login.toLowerCase() === repo.owner.toLowerCase() ? "OWNER" : "NONE",
    body: input.body ?? "",
    reactions: shapes.reactionRollup(`${url}/reactions`, []),
    ...(given ? structuredClone(given) : {}),
  };
  return payload;
}
