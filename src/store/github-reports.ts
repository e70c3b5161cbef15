// Owns the github_reports table, the reporting outbox (see 013_github_reports.sql): what
// GitHub should be told about each object, newest facts only, until it has been told. The
// facts are plain data; src/github/report-outbox.ts turns them into check runs, GitHub
// Deployment statuses and the sticky pull-request comment.
import type { Queryable } from "./create-database.js";

/** Where one alias of a ready build stands: live, or not and why. */
export type ReportedActivation = { alias: string; activated: boolean; note?: string; url: string };

/** A check-run annotation found in a build log (see src/pipeline/parse-build-annotations.ts). */
export type ReportedAnnotation = { path: string; start_line: number; end_line: number; annotation_level: "failure" | "warning"; title: string; message: string };

export type DeploymentFacts = { kind: "deployment"; deploymentId: string } & (
  | { phase: "queued" }
  | { phase: "building"; log: string }
  | { phase: "ready"; activations: ReportedActivation[] }
  | { phase: "failed"; reason: string; conclusion: "failure" | "timed_out"; failedCommand: string | null; annotations: ReportedAnnotation[]; afterReady: boolean }
  | { phase: "cancelled"; reason: string; supersededBy: string | null }
);

/** The sticky comment of one pull request: rendered from the database when sent. */
export type PullRequestFacts = { kind: "pull-request"; repositoryId: number; number: number; owner: string; repo: string; installationId: number };

export type ReportFacts = DeploymentFacts | PullRequestFacts;

export function reportKey(facts: ReportFacts): string {
  return facts.kind === "deployment" ? `deployment:${facts.deploymentId}` : `pull-request:${facts.repositoryId}:${facts.number}`;
}

/**
 * The upsert that records new facts for an object: a new revision, due at once (a newer
 * report also cuts short the backoff of a failed older one). The key and facts are the
 * statement's parameters `$keyParam` and `$factsParam`; `onlyIf`, a condition, lets the
 * statement that makes a change record its report only when the change happened.
 */
export function recordReportStatement(keyParam: number, factsParam: number, onlyIf = "true"): string {
  return `insert into github_reports (key, facts) select $${keyParam}, $${factsParam}::jsonb where ${onlyIf}
  on conflict (key) do update set facts = excluded.facts, revision = github_reports.revision + 1, next_at = now(), attempts = 0, updated_at = now()`;
}

export async function reportLater(db: Queryable, facts: ReportFacts): Promise<void> {
  await db.query(recordReportStatement(1, 2), [reportKey(facts), JSON.stringify(facts)]);
}

export type DueReport = { key: string; facts: ReportFacts; revision: number; attempts: number };

/** Takes the next due report and leases it, so that one reporter at a time sends an object. */
export async function claimReport(db: Queryable, leaseSeconds: number): Promise<DueReport | null> {
  const result = await db.query<{ key: string; facts: ReportFacts; revision: string; attempts: number }>(
    `update github_reports set leased_until = now() + make_interval(secs => $1)
      where key = (select key from github_reports
                    where revision > reported and next_at <= now() and (leased_until is null or leased_until < now())
                    order by next_at limit 1 for update skip locked)
      returning key, facts, revision, attempts`,
    [leaseSeconds],
  );
  const row = result.rows[0];
  return row ? { key: row.key, facts: row.facts, revision: Number(row.revision), attempts: row.attempts } : null;
}

/** GitHub has heard `revision` (or it can never land and was given up, with `error`). */
export async function markReported(db: Queryable, key: string, revision: number, error: string | null = null): Promise<void> {
  await db.query("update github_reports set reported = greatest(reported, $2), leased_until = null, last_error = $3, attempts = 0 where key = $1", [key, revision, error]);
}

/** Sending `revision` failed: tried again after the backoff, or at once when newer facts came meanwhile. */
export async function markReportFailed(db: Queryable, key: string, revision: number, error: string, retryInSeconds: number): Promise<void> {
  await db.query(
    `update github_reports set attempts = attempts + 1, last_error = $2, leased_until = null,
            next_at = case when revision > $4 then now() else now() + make_interval(secs => $3) end
      where key = $1`,
    [key, error, retryInSeconds, revision],
  );
}

/** Reports not yet heard by GitHub: waiting, being sent or backing off. */
export async function countPendingReports(db: Queryable): Promise<number> {
  const result = await db.query<{ n: number }>("select count(*)::int as n from github_reports where revision > reported");
  return result.rows[0]!.n;
}

/** Forgets reports GitHub heard more than `days` ago. */
export async function forgetOldReports(db: Queryable, days: number): Promise<number> {
  const result = await db.query("delete from github_reports where revision <= reported and updated_at < now() - make_interval(days => $1)", [days]);
  return result.rowCount ?? 0;
}
