// Owns the deployment state machine. The allowed transitions are data, and every status
// write in Slipway goes through transitionDeployment, a conditional UPDATE, so two workers
// (or a worker and the watchdog) can never both win the same transition.
import type { Queryable } from "../store/create-database.js";
import { recordReportStatement, reportKey, type DeploymentFacts } from "../store/github-reports.js";

export type DeploymentStatus = "queued" | "building" | "ready" | "failed" | "cancelled";

export const allowedTransitions: Readonly<Record<DeploymentStatus, readonly DeploymentStatus[]>> = {
  queued: ["building", "failed", "cancelled"],
  // building -> building is a worker re-claiming a build whose previous worker died.
  building: ["building", "ready", "failed", "cancelled"],
  ready: [],
  failed: [],
  cancelled: [],
};

export function canTransition(from: DeploymentStatus, to: DeploymentStatus): boolean {
  return allowedTransitions[from].includes(to);
}

export function isTerminal(status: DeploymentStatus): boolean {
  return allowedTransitions[status].length === 0;
}

export type DeploymentFields = Partial<{
  attempt: number;
  artifact_digest: string;
  artifact_size: number;
  error: string | null;
  failed_command: string | null;
  log_tail: string;
  timings: Record<string, number>;
  build_started_at: Date;
  build_finished_at: Date;
  dependency_key: string | null;
}>;

/**
 * Moves a deployment to `to` if, and only if, it is currently in one of the statuses
 * that may lead there. Returns false when another actor changed it first.
 */
export async function transitionDeployment(
  db: Queryable,
  deploymentId: string,
  to: DeploymentStatus,
  options: { fields?: DeploymentFields; attempt?: number; report?: DeploymentFacts } = {},
): Promise<boolean> {
  const from = (Object.keys(allowedTransitions) as DeploymentStatus[]).filter((s) => canTransition(s, to));
  const fields = options.fields ?? {};
  const columns = Object.keys(fields) as (keyof DeploymentFields)[];
  const values: unknown[] = [deploymentId, to, from];
  const sets = columns.map((column) => {
    const value = fields[column];
    values.push(column === "timings" ? JSON.stringify(value) : value);
    return `, ${column} = $${values.length}`;
  });
  let attemptCondition = "";
  if (options.attempt !== undefined) {
    // A worker that lost its lock (and so its build) must not overwrite the new owner's work.
    values.push(options.attempt);
    attemptCondition = ` and attempt = $${values.length}`;
  }
  const update = `update deployments set status = $2, updated_at = now()${sets.join("")}
      where id = $1 and status = any($3::text[])${attemptCondition}`;
  if (!options.report) return (await db.query(update, values)).rowCount === 1;
  // What GitHub should hear is recorded by the same statement as the change, or not at all.
  values.push(reportKey(options.report), JSON.stringify(options.report));
  const report = recordReportStatement(values.length - 1, values.length, "exists (select 1 from changed)");
  const result = await db.query<{ n: number }>(`with changed as (${update} returning 1), reported as (${report}) select count(*)::int as n from changed`, values);
  return result.rows[0]!.n === 1;
}

/**
 * Takes ownership of a build: queued -> building, or building -> building when the
 * previous owner died. Returns the new attempt number, or null if the deployment has
 * already ended (ready, failed or cancelled), in which case there is nothing to do.
 */
export async function claimBuild(db: Queryable, deploymentId: string): Promise<number | null> {
  const from = (Object.keys(allowedTransitions) as DeploymentStatus[]).filter((s) => canTransition(s, "building"));
  const result = await db.query<{ attempt: number }>(
    `update deployments
        set status = 'building', attempt = attempt + 1, build_started_at = now(), updated_at = now(),
            error = null, failed_command = null
      where id = $1 and status = any($2::text[])
      returning attempt`,
    [deploymentId, from],
  );
  return result.rows[0]?.attempt ?? null;
}
