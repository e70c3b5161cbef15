// Owns writing the sticky PR comment: every function's state read from the database at the
// moment it is sent, rendered whole, and written over the comment (or a new one, the first
// time or when someone deleted it). Only the reporting outbox calls it, one reporter at a
// time per pull request, and any change after the read is a new revision sent after this
// one, so no update is lost and no database connection waits on GitHub.
import type { Octokit } from "@octokit/rest";
import type { Config } from "../config/load-config.js";
import type { Database } from "../store/create-database.js";
import { getPullRequest, listPullRequestFunctions, setPullRequestCommentId } from "../store/pull-requests.js";
import type { RepoRef } from "./check-runs.js";
import { renderPullRequestComment } from "./render-pull-request-comment.js";

export async function updatePullRequestComment(
  deps: { db: Database; config: Pick<Config, "publicUrl" | "appUrl"> },
  octokit: Octokit,
  target: RepoRef & { repositoryId: number; number: number },
): Promise<void> {
  const pr = await getPullRequest(deps.db, target.repositoryId, target.number);
  if (!pr) return;
  const rows = await listPullRequestFunctions(deps.db, target.repositoryId, target.number);
  if (rows.length === 0) return;
  const body = renderPullRequestComment({ number: pr.number, state: pr.state, rows, publicUrl: deps.config.publicUrl, appUrl: deps.config.appUrl });
  if (pr.commentId !== null) {
    try {
      await octokit.rest.issues.updateComment({ owner: target.owner, repo: target.repo, comment_id: pr.commentId, body });
      return;
    } catch (error) {
      // Someone deleted the comment; write a new one.
      if ((error as { status?: number }).status !== 404) throw error;
    }
  }
  const created = await octokit.rest.issues.createComment({ owner: target.owner, repo: target.repo, issue_number: target.number, body });
  await setPullRequestCommentId(deps.db, target.repositoryId, target.number, created.data.id);
}
