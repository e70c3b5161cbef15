// Owns the commit_check_runs table: which check run speaks for a function at a commit.
import type { Queryable } from "./create-database.js";

export type CommitCheckRunState = "waiting" | "building" | "done";
export type CommitCheckRun = { checkRunId: number; state: CommitCheckRunState; deploymentId: string | null };
export type CommitCheckRunKey = { repositoryId: number; sha: string; name: string };

export async function getCommitCheckRun(db: Queryable, key: CommitCheckRunKey): Promise<CommitCheckRun | null> {
  const result = await db.query<{ check_run_id: string; state: CommitCheckRunState; deployment_id: string | null }>(
    "select check_run_id, state, deployment_id from commit_check_runs where repository_id = $1 and head_sha = $2 and name = $3",
    [key.repositoryId, key.sha, key.name],
  );
  const row = result.rows[0];
  return row ? { checkRunId: Number(row.check_run_id), state: row.state, deploymentId: row.deployment_id } : null;
}

export async function setCommitCheckRun(db: Queryable, key: CommitCheckRunKey, run: CommitCheckRun): Promise<void> {
  await db.query(
    `insert into commit_check_runs (repository_id, head_sha, name, check_run_id, state, deployment_id) values ($1, $2, $3, $4, $5, $6)
       on conflict (repository_id, head_sha, name) do update
         set check_run_id = excluded.check_run_id, state = excluded.state, deployment_id = excluded.deployment_id, updated_at = now()`,
    [key.repositoryId, key.sha, key.name, run.checkRunId, run.state, run.deploymentId],
  );
}

/** The runs still waiting for an approval at a commit of the repository. */
export async function listWaitingCheckRuns(db: Queryable, repositoryId: number, sha: string): Promise<(CommitCheckRunKey & { checkRunId: number })[]> {
  const result = await db.query<{ name: string; check_run_id: string }>(
    "select name, check_run_id from commit_check_runs where repository_id = $1 and head_sha = $2 and state = 'waiting'",
    [repositoryId, sha],
  );
  return result.rows.map((r) => ({ repositoryId, sha, name: r.name, checkRunId: Number(r.check_run_id) }));
}
