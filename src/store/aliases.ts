// Owns the aliases table: the named pointers (production, pr-<n>, ...) from a function to
// one of its deployments. Switching an alias is the whole of an activation or a rollback.
import type { Queryable } from "./create-database.js";

export type Route = {
  slug: string;
  alias: string;
  functionId: string;
  deploymentId: string;
  artifactDigest: string;
  runtime: string;
  entrypoint: string;
};

/** Points the alias at the deployment; `pinned` undefined keeps the alias's pin as it is. */
export async function switchAlias(
  db: Queryable,
  functionId: string,
  alias: string,
  deploymentId: string,
  pinned?: boolean,
): Promise<string | null> {
  const result = await db.query<{ previous: string | null }>(
    `with previous as (select deployment_id from aliases where function_id = $1 and name = $2 for update)
     insert into aliases (function_id, name, deployment_id, pinned) values ($1, $2, $3, coalesce($4, false))
       on conflict (function_id, name) do update set deployment_id = excluded.deployment_id,
         pinned = coalesce($4, aliases.pinned), updated_at = now()
     returning (select deployment_id from previous) as previous`,
    [functionId, alias, deploymentId, pinned ?? null],
  );
  return result.rows[0]?.previous ?? null;
}

export async function getAlias(db: Queryable, functionId: string, alias: string): Promise<{ deploymentId: string; pinned: boolean; version: number } | null> {
  const result = await db.query<{ deploymentId: string; pinned: boolean; version: number }>(
    `select a.deployment_id as "deploymentId", a.pinned, d.version
       from aliases a join deployments d on d.id = a.deployment_id where a.function_id = $1 and a.name = $2`,
    [functionId, alias],
  );
  return result.rows[0] ?? null;
}

export async function setAliasPinned(db: Queryable, functionId: string, alias: string, pinned: boolean): Promise<boolean> {
  const result = await db.query("update aliases set pinned = $3, updated_at = now() where function_id = $1 and name = $2", [functionId, alias, pinned]);
  return result.rowCount === 1;
}

const routeSelect = `
  select f.slug, a.name as alias, f.id as "functionId", d.id as "deploymentId",
         d.artifact_digest as "artifactDigest", d.runtime, d.entrypoint
    from aliases a join functions f on f.id = a.function_id join deployments d on d.id = a.deployment_id`;

export async function listRoutes(db: Queryable): Promise<Route[]> {
  return (await db.query<Route>(routeSelect)).rows;
}

export async function listRoutesForFunction(db: Queryable, functionId: string): Promise<Route[]> {
  return (await db.query<Route>(`${routeSelect} where f.id = $1`, [functionId])).rows;
}
