// Owns the console's metrics at a glance, from what Slipway already stores: a function's
// builds (duration and outcome) and its executions per minute (count, errors, p95 duration)
// over the last 24 hours. An error is a failed or timed-out execution or a 5xx answer.
import type { Queryable } from "./create-database.js";

export type FunctionMetrics = {
  builds: { version: number; status: string; createdAt: Date; durationMs: number | null }[];
  executionsPerMinute: { minute: Date; executions: number; errors: number; p95Ms: number | null }[];
  totals: { executions: number; errors: number; errorRate: number | null; p95Ms: number | null };
};

export async function functionMetrics(db: Queryable, functionId: string): Promise<FunctionMetrics> {
  const builds = await db.query<FunctionMetrics["builds"][number]>(
    `select version, status, created_at as "createdAt",
            (extract(epoch from build_finished_at - build_started_at) * 1000)::float8 as "durationMs"
       from deployments where function_id = $1 and created_at > now() - interval '24 hours' and status in ('ready', 'failed', 'cancelled')
      order by created_at`,
    [functionId],
  );
  const isError = "(status in ('failed', 'timed_out') or response_status_code >= 500)";
  const perMinute = await db.query<FunctionMetrics["executionsPerMinute"][number]>(
    `select date_trunc('minute', created_at) as minute, count(*)::int as executions, count(*) filter (where ${isError})::int as errors,
            percentile_cont(0.95) within group (order by duration_ms)::float8 as "p95Ms"
       from executions where function_id = $1 and created_at > now() - interval '24 hours'
      group by 1 order by 1`,
    [functionId],
  );
  const totals = await db.query<{ executions: number; errors: number; p95Ms: number | null }>(
    `select count(*)::int as executions, count(*) filter (where ${isError})::int as errors,
            percentile_cont(0.95) within group (order by duration_ms)::float8 as "p95Ms"
       from executions where function_id = $1 and created_at > now() - interval '24 hours'`,
    [functionId],
  );
  const total = totals.rows[0]!;
  return {
    builds: builds.rows,
    executionsPerMinute: perMinute.rows,
    totals: { ...total, errorRate: total.executions ? total.errors / total.executions : null },
  };
}
