// Owns the read-modify-write of the sticky PR comment. Several workers finish functions of
// the same pull request at once; each takes the pull request's row lock, reads every
// function's state and writes the whole table, so the last writer always writes
// everything and no update is lost.
import type { Octokit } from "@octokit/rest";
import type { Config } from "../config/load-config.js";
import { inTransaction, type Database } from "../store/create-database.js";
import { getPullRequest, listPullRequestFunctions, setPullRequestCommentId } from "../store/pull-requests.js";
import type { RepoRef } from "./check-runs.js";
import { renderPullRequestComment } from "./render-pull-request-comment.js";

export async function updatePullRequestComment(
  deps: { db: Database; config: Pick<Config, "publicUrl" | "appUrl"> },
  octokit: Octokit,
  target: RepoRef & { repositoryId: number; number: number },
): Promise<void> {
  await inTransaction(deps.db, async (client) => {
    const pr = await getPullRequest(client, target.repositoryId, target.number, { forUpdate: true });
    if (!pr) return;
    const rows = await listPullRequestFunctions(client, target.repositoryId, target.number);
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
    await setPullRequestCommentId(client, target.repositoryId, target.number, created.data.id);
  });
}
