// Owns the questions "which functions does this event trigger?", "does this function still
// have a schedule?" and "which functions have one?", all answered from what production serves now.
import type { Queryable } from "../store/create-database.js";
import { matchEventPattern } from "./match-event-pattern.js";

// The settings of the deployment production serves (or of its newest earlier one that has settings).
const productionSettings = `
  from aliases a
  join deployments target on target.id = a.deployment_id
  join functions f on f.id = a.function_id
  join repositories r on r.id = f.repository_id
  cross join lateral (
    select s.schedule, s.events from deployments d join deployment_settings s on s.deployment_id = d.id
     where d.function_id = target.function_id and d.version <= target.version order by d.version desc limit 1
  ) s
  where a.name = 'production'`;

export async function findEventSubscribers(db: Queryable, eventName: string, installationId: number | null): Promise<string[]> {
  const rows = await db.query<{ functionId: string; installationId: string; events: string[] }>(
    `select a.function_id as "functionId", r.installation_id as "installationId", s.events ${productionSettings} and cardinality(s.events) > 0`,
  );
  return rows.rows
    .filter((row) => installationId === null || Number(row.installationId) === installationId)
    .filter((row) => row.events.some((pattern) => matchEventPattern(pattern, eventName)))
    .map((row) => row.functionId);
}

export async function findScheduledFunction(db: Queryable, functionId: string): Promise<{ schedule: string } | null> {
  const rows = await db.query<{ schedule: string }>(`select s.schedule ${productionSettings} and a.function_id = $1 and s.schedule is not null`, [functionId]);
  return rows.rows[0] ?? null;
}

/** Every function whose production deployment has a schedule, for registering the schedules again. */
export async function findScheduledFunctions(db: Queryable): Promise<{ functionId: string; schedule: string }[]> {
  const rows = await db.query<{ functionId: string; schedule: string }>(`select a.function_id as "functionId", s.schedule ${productionSettings} and s.schedule is not null`);
  return rows.rows;
}

/** The installation a function belongs to, for scoping the events it publishes. */
export async function functionInstallation(db: Queryable, functionId: string): Promise<number | null> {
  const rows = await db.query<{ installationId: string }>(
    `select r.installation_id as "installationId" from functions f join repositories r on r.id = f.repository_id where f.id = $1`,
    [functionId],
  );
  return rows.rows[0] ? Number(rows.rows[0].installationId) : null;
}
