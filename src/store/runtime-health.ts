// Owns runtime_health: the restarts of a deployment's runtime that have not yet been followed
// by a minute of uptime, and whether they are a crash loop. Gateways write it as they heal
// (src/gateway/heal-runtimes.ts), so the app's API and dashboard see every gateway's restarts.
import type { Queryable } from "./create-database.js";

export type RuntimeRestartReason = "exited" | "unhealthy" | "start_failed";

export type RuntimeRestart = {
  deploymentId: string;
  /** Restarts in a row, none of which stayed up a minute; the writer's own count. */
  restarts: number;
  reason: RuntimeRestartReason;
  exitCode: number | null;
  /** When the next start is tried (after the back-off). */
  nextRestartInMs: number;
  crashLooping: boolean;
};

export type RuntimeHealth = {
  deploymentId: string;
  functionId: string;
  version: number;
  /** The aliases that serve this deployment now; empty for one no alias serves any more. */
  aliases: string[];
  restarts: number;
  crashLooping: boolean;
  lastReason: RuntimeRestartReason;
  lastExitCode: number | null;
  firstRestartAt: Date;
  lastRestartAt: Date;
  nextRestartAt: Date | null;
  /** Seconds until the next start is tried, by the database's clock; 0 when it is due. */
  nextRestartInSeconds: number | null;
};

/**
 * A row that no gateway has written for this long is a report from a gateway that stopped
 * (a crash loop restarts at least every minute and a half: a minute of back-off, then at most
 * the start's health timeout), so it is no longer shown.
 */
export const runtimeHealthStaleAfterSeconds = 300;

/**
 * Several gateways on one Docker engine see the same deaths and each writes its own count of
 * the same streak, so the row is overwritten, never added up.
 */
export async function recordRuntimeRestart(db: Queryable, restart: RuntimeRestart): Promise<void> {
  await db.query(
    `insert into runtime_health (deployment_id, function_id, restarts, first_restart_at, last_restart_at, last_reason, last_exit_code, next_restart_at, crash_looping)
     select d.id, d.function_id, $2::int, now(), now(), $3::text, $4::int, now() + make_interval(secs => $5::float8 / 1000), $6::boolean
       from deployments d where d.id = $1
     on conflict (deployment_id) do update set
       restarts = excluded.restarts,
       first_restart_at = case when excluded.restarts = 1 then now() else runtime_health.first_restart_at end,
       last_restart_at = now(), last_reason = excluded.last_reason, last_exit_code = excluded.last_exit_code,
       next_restart_at = excluded.next_restart_at, crash_looping = excluded.crash_looping`,
    [restart.deploymentId, restart.restarts, restart.reason, restart.exitCode, restart.nextRestartInMs, restart.crashLooping],
  );
}

/** The runtime stayed up (or is no longer served): its restarts are behind it. */
export async function clearRuntimeHealth(db: Queryable, deploymentId: string): Promise<void> {
  await db.query("delete from runtime_health where deployment_id = $1", [deploymentId]);
}

/**
 * Recent restarts, of these functions' or these deployments' runtimes. `servedOnly` keeps
 * the deployments an alias serves now, so a function's report ends the moment another
 * version is activated, whichever gateway clears the row and when.
 */
export async function listRuntimeHealth(db: Queryable, filter: { functionIds?: string[]; deploymentIds?: string[]; servedOnly?: boolean }): Promise<RuntimeHealth[]> {
  const result = await db.query<RuntimeHealth>(
    `select h.deployment_id as "deploymentId", h.function_id as "functionId", d.version,
            coalesce(array_agg(a.name order by a.name) filter (where a.name is not null), '{}') as aliases,
            h.restarts, h.crash_looping as "crashLooping", h.last_reason as "lastReason", h.last_exit_code as "lastExitCode",
            h.first_restart_at as "firstRestartAt", h.last_restart_at as "lastRestartAt", h.next_restart_at as "nextRestartAt",
            case when h.next_restart_at is null then null else greatest(0, ceil(extract(epoch from h.next_restart_at - now())))::int end as "nextRestartInSeconds"
       from runtime_health h join deployments d on d.id = h.deployment_id
       left join aliases a on a.deployment_id = h.deployment_id
      where ($1::uuid[] is null or h.function_id = any($1)) and ($2::uuid[] is null or h.deployment_id = any($2))
        and h.last_restart_at > now() - make_interval(secs => $3::float8)
      group by h.deployment_id, d.version
     having not $4::boolean or count(a.name) > 0
      order by h.last_restart_at desc`,
    [filter.functionIds ?? null, filter.deploymentIds ?? null, runtimeHealthStaleAfterSeconds, filter.servedOnly ?? false],
  );
  return result.rows;
}
