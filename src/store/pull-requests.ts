// Owns the pull_requests and pull_request_functions tables: what Slipway knows of each
// open pull request (head, fork or not, the approved fork commit, the sticky comment) and
// one row per function for that comment.
import type { Queryable } from "./create-database.js";

export type PullRequestRecord = {
  repositoryId: number;
  number: number;
  state: "open" | "closed";
  headSha: string;
  headRef: string;
  baseSha: string;
  baseRef: string;
  isFork: boolean;
  author: string;
  approvedSha: string | null;
  approvedBy: string | null;
  commentId: number | null;
};

const columns = `repository_id as "repositoryId", number, state, head_sha as "headSha", head_ref as "headRef",
  base_sha as "baseSha", base_ref as "baseRef", is_fork as "isFork", author, approved_sha as "approvedSha",
  approved_by as "approvedBy", comment_id as "commentId"`;

function fromRow(row: Record<string, unknown> | undefined): PullRequestRecord | null {
  if (!row) return null;
  return { ...(row as PullRequestRecord), repositoryId: Number(row.repositoryId), commentId: row.commentId === null ? null : Number(row.commentId) };
}

export async function upsertPullRequest(
  db: Queryable,
  pr: Omit<PullRequestRecord, "approvedSha" | "approvedBy" | "commentId">,
): Promise<PullRequestRecord> {
  const result = await db.query(
    `insert into pull_requests (repository_id, number, state, head_sha, head_ref, base_sha, base_ref, is_fork, author)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       on conflict (repository_id, number) do update set state = excluded.state, head_sha = excluded.head_sha,
         head_ref = excluded.head_ref, base_sha = excluded.base_sha, base_ref = excluded.base_ref,
         is_fork = excluded.is_fork, author = excluded.author, updated_at = now()
     returning ${columns}`,
    [pr.repositoryId, pr.number, pr.state, pr.headSha, pr.headRef, pr.baseSha, pr.baseRef, pr.isFork, pr.author],
  );
  return fromRow(result.rows[0])!;
}

export async function getPullRequest(db: Queryable, repositoryId: number, number: number, options: { forUpdate?: boolean } = {}): Promise<PullRequestRecord | null> {
  const result = await db.query(
    `select ${columns} from pull_requests where repository_id = $1 and number = $2${options.forUpdate ? " for update" : ""}`,
    [repositoryId, number],
  );
  return fromRow(result.rows[0]);
}

/** Records the approval only if `sha` is still the head: a newer commit needs its own approval. */
export async function approvePullRequestHead(db: Queryable, repositoryId: number, number: number, sha: string, approvedBy: string): Promise<boolean> {
  const result = await db.query(
    `update pull_requests set approved_sha = $3, approved_by = $4, updated_at = now()
      where repository_id = $1 and number = $2 and head_sha = $3 and state = 'open'`,
    [repositoryId, number, sha, approvedBy],
  );
  return result.rowCount === 1;
}

export async function setPullRequestCommentId(db: Queryable, repositoryId: number, number: number, commentId: number): Promise<void> {
  await db.query("update pull_requests set comment_id = $3 where repository_id = $1 and number = $2", [repositoryId, number, commentId]);
}

export async function setPullRequestFunction(
  db: Queryable,
  row: { repositoryId: number; number: number; functionName: string; deploymentId: string | null; note: string | null },
): Promise<void> {
  await db.query(
    `insert into pull_request_functions (repository_id, number, function_name, deployment_id, note) values ($1, $2, $3, $4, $5)
       on conflict (repository_id, number, function_name) do update set deployment_id = excluded.deployment_id,
         note = excluded.note, updated_at = now()`,
    [row.repositoryId, row.number, row.functionName, row.deploymentId, row.note],
  );
}

export type PullRequestFunctionRow = {
  functionName: string;
  slug: string | null;
  note: string | null;
  deploymentId: string | null;
  status: string | null;
  version: number | null;
  commitSha: string | null;
};

export async function listPullRequestFunctions(db: Queryable, repositoryId: number, number: number): Promise<PullRequestFunctionRow[]> {
  const result = await db.query<PullRequestFunctionRow>(
    `select p.function_name as "functionName", f.slug, p.note, d.id as "deploymentId", d.status, d.version, d.commit_sha as "commitSha"
       from pull_request_functions p
       left join deployments d on d.id = p.deployment_id
       left join functions f on f.repository_id = p.repository_id and f.name = p.function_name
      where p.repository_id = $1 and p.number = $2
      order by p.function_name`,
    [repositoryId, number],
  );
  return result.rows;
}
