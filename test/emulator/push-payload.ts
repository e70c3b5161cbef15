import { baseUrlsOf } from "./base-urls-of.js";
import { createGitHubShapes } from "./create-github-shapes.js";
import { emulatorCommitLog, type LoggedCommit } from "./emulator-commit-log.js";
import type { JsonObject, RepoRecord } from "./emulator-types.js";
import { loadWebhookExample } from "./load-webhook-example.js";
import { retargetWebhookExample } from "./retarget-webhook-example.js";
import { userIdFor } from "./user-id-for.js";

const ZERO_SHA = "0000000000000000000000000000000000000000";
/** GitHub lists at most 20 commits in a push payload. */
const MAX_COMMITS = 20;

export type PushFiles =
  | Record<string, unknown>
  | { added?: readonly string[]; modified?: readonly string[]; removed?: readonly string[] };

export interface PushPayloadInput {
  /** Repository record returned by the emulator's createRepo(). */
  repo: RepoRecord;
  before: string;
  after: string;
  /** Default `refs/heads/<default branch>`. */
  ref?: string;
  /** Head commit message (default: the message the emulator recorded for `after`). */
  message?: string;
  /** Login of the pusher (default: the repository owner). */
  pusher?: string;
  /**
   * Changed files of the head commit. Defaults to what the emulator recorded for `after`.
   * Either `{ added, modified, removed }` or a commit()-style map (null = removed).
   */
  files?: PushFiles;
  forced?: boolean;
}

function isFileLists(files: PushFiles): files is { added?: readonly string[]; modified?: readonly string[]; removed?: readonly string[] } {
  return ["added", "modified", "removed"].some((k) => Array.isArray((files as Record<string, unknown>)[k]));
}

/**
 * A `push` webhook payload built from @octokit/webhooks-examples' real push example,
 * retargeted at an emulator repository. Commits written with the emulator's commit() are
 * listed with their real trees, authors and file lists (up to GitHub's 20).
 */
export function pushPayload(input: PushPayloadInput): JsonObject {
  const { repo, before, after } = input;
  const ref = input.ref ?? `refs/heads/${repo.default_branch}`;
  const created = before === ZERO_SHA;
  const deleted = after === ZERO_SHA;
  const urls = baseUrlsOf(repo);
  const shapes = createGitHubShapes(urls);
  const html = shapes.repoHtmlUrl(repo);
  const pusher = input.pusher ?? repo.owner;

  const example = loadWebhookExample("push", (e) => String(e.ref).startsWith("refs/heads/") && e.installation !== undefined);
  const head = deleted ? undefined : emulatorCommitLog.get(repo.id, after);
  const payload = retargetWebhookExample(example, repo, { sender: pusher, style: "push", ...(head ? { pushedAt: head.timestamp } : {}) });

  const chain: LoggedCommit[] = [];
  if (!deleted) {
    let cursor: LoggedCommit | undefined = head;
    while (cursor && cursor.sha !== before && chain.length < MAX_COMMITS) {
      chain.unshift(cursor);
      const parent = cursor.parents[0];
      cursor = parent && parent !== before ? emulatorCommitLog.get(repo.id, parent) : undefined;
    }
    if (chain.length === 0) {
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
      const identity = { name: pusher, email: `${userIdFor(pusher)}+${pusher}@users.noreply.github.com` };
      chain.push({ sha: after, tree: "4b825dc642cb6eb9a060e54bf8d69288fbee4904", parents: created ? [] : [before], message: input.message ?? "Update", timestamp: now, author: identity, committer: identity, added: [], modified: [], removed: [] });
    }
  }

  const lastIndex = chain.length - 1;
  const commits = chain.map((c, index): JsonObject => {
    let added = [...c.added];
    let modified = [...c.modified];
    let removed = [...c.removed];
    if (index === lastIndex && input.files) {
      if (isFileLists(input.files)) {
        added = [...(input.files.added ?? [])];
        modified = [...(input.files.modified ?? [])];
        removed = [...(input.files.removed ?? [])];
      } else {
        const entries = Object.entries(input.files);
        removed = entries.filter(([, v]) => v === null).map(([k]) => k);
        const present = entries.filter(([, v]) => v !== null).map(([k]) => k);
        added = created ? present : present.filter((p) => c.added.includes(p));
        modified = created ? [] : present.filter((p) => !c.added.includes(p));
      }
    }
    const person = (p: { name: string; email: string }): JsonObject => {
      const m = /^(?:\d+\+)?([A-Za-z0-9-]+)@users\.noreply\.github\.com$/i.exec(p.email);
      return m?.[1] ? { name: p.name, email: p.email, username: m[1] } : { name: p.name, email: p.email };
    };
    return {
      id: c.sha,
      tree_id: c.tree,
      distinct: true,
      message: index === lastIndex && input.message !== undefined ? input.message : c.message,
      timestamp: c.timestamp,
      url: `${html}/commit/${c.sha}`,
      author: person(c.author),
      committer: person(c.committer),
      added,
      removed,
      modified,
    };
  });

  Object.assign(payload, {
    ref,
    before,
    after,
    created,
    deleted,
    forced: input.forced ?? false,
    base_ref: null,
    compare: created
      ? `${html}/commit/${after.slice(0, 12)}`
      : `${html}/compare/${before.slice(0, 12)}...${after.slice(0, 12)}`,
    commits,
    head_commit: commits.at(-1) ?? null,
    pusher: { name: pusher, email: `${userIdFor(pusher)}+${pusher}@users.noreply.github.com` },
  });
  return payload;
}
