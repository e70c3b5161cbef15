import { baseUrlsOf } from "./base-urls-of.js";
import { createGitHubShapes } from "./create-github-shapes.js";
import type { JsonObject, RepoRecord } from "./emulator-types.js";
import { loadWebhookExample } from "./load-webhook-example.js";
import { retargetWebhookExample } from "./retarget-webhook-example.js";

export interface PullRequestPayloadInput {
  repo: RepoRecord;
  number: number;
  /** Webhook action (default `opened`). */
  action?: string;
  /** The PR as the emulator renders it (createPullRequest() result); takes precedence over the fields below. */
  pullRequest?: JsonObject;
  headRef?: string;
  headSha?: string;
  baseRef?: string;
  baseSha?: string;
  title?: string;
  body?: string | null;
  /** PR author login (default: repository owner). */
  user?: string;
  /** Who triggered the event (default: the PR author). */
  sender?: string;
  /** `synchronize` only: previous and new head sha. */
  before?: string;
  after?: string;
}

/**
 * A `pull_request` webhook payload built from @octokit/webhooks-examples' real example for
 * the action (falling back to `opened`), retargeted at an emulator repository.
 */
export function pullRequestPayload(input: PullRequestPayloadInput): JsonObject {
  const { repo, number } = input;
  const action = input.action ?? "opened";
  const shapes = createGitHubShapes(baseUrlsOf(repo));
  const given = input.pullRequest;
  const author = input.user ?? (typeof (given?.user as JsonObject | undefined)?.login === "string" ? String((given?.user as JsonObject).login) : repo.owner);

  let example: JsonObject;
  try {
    example = loadWebhookExample("pull_request", (e) => e.action === action && e.installation !== undefined);
  } catch {
    example = loadWebhookExample("pull_request", (e) => e.action === "opened" && e.installation !== undefined);
    example.action = action;
  }
  const payload = retargetWebhookExample(example, repo, { sender: input.sender ?? author, style: "default" });
  const api = shapes.repoApiUrl(repo);
  const html = shapes.repoHtmlUrl(repo);
  const url = `${api}/pulls/${number}`;
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  const repository = shapes.repository(repo, { pushed_at: now, updated_at: now });
  const owner = shapes.user(repo.owner, repo.ownerType, repo.ownerId);
  const headRef = input.headRef ?? "feature";
  const baseRef = input.baseRef ?? repo.default_branch;
  const headSha = input.headSha ?? input.after ?? "0000000000000000000000000000000000000000";
  const baseSha = input.baseSha ?? "0000000000000000000000000000000000000000";

  const base: JsonObject = {
    ...(payload.pull_request as JsonObject),
    url,
    html_url: `${html}/pull/${number}`,
    diff_url: `${html}/pull/${number}.diff`,
    patch_url: `${html}/pull/${number}.patch`,
    issue_url: `${api}/issues/${number}`,
    commits_url: `${url}/commits`,
    review_comments_url: `${url}/comments`,
    review_comment_url: `${api}/pulls/comments{/number}`,
    comments_url: `${api}/issues/${number}/comments`,
    statuses_url: `${api}/statuses/${headSha}`,
    number,
    state: "open",
    title: input.title ?? `Merge ${headRef} into ${baseRef}`,
    body: input.body ?? null,
    user: shapes.user(author),
    created_at: now,
    updated_at: now,
    assignee: null,
    assignees: [],
    requested_reviewers: [],
    requested_teams: [],
    labels: [],
    milestone: null,
    head: { label: `${repo.owner}:${headRef}`, ref: headRef, sha: headSha, user: owner, repo: repository },
    base: { label: `${repo.owner}:${baseRef}`, ref: baseRef, sha: baseSha, user: owner, repo: repository },
    _links: {
      self: { href: url },
      html: { href: `${html}/pull/${number}` },
      issue: { href: `${api}/issues/${number}` },
      comments: { href: `${api}/issues/${number}/comments` },
      review_comments: { href: `${url}/comments` },
      review_comment: { href: `${api}/pulls/comments{/number}` },
      commits: { href: `${url}/commits` },
      statuses: { href: `${api}/statuses/${headSha}` },
    },
  };
  payload.action = action;
  payload.number = number;
  payload.pull_request = given ? { ...base, ...structuredClone(given) } : base;
  if (action === "synchronize") {
    payload.before = input.before ?? "0000000000000000000000000000000000000000";
    payload.after = input.after ?? String((payload.pull_request as JsonObject & { head: JsonObject }).head.sha);
  } else {
    delete payload.before;
    delete payload.after;
  }
  return payload;
}
