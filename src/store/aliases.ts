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

export async function switchAlias(db: Queryable, functionId: string, alias: string, deploymentId: string): Promise<string | null> {
  const result = await db.query<{ previous: string | null }>(
    `with previous as (select deployment_id from aliases where function_id = $1 and name = $2 for update)
     insert into aliases (function_id, name, deployment_id) values ($1, $2, $3)
       on conflict (function_id, name) do update set deployment_id = excluded.deployment_id, updated_at = now()
     returning (select deployment_id from previous) as previous`,
    [functionId, alias, deploymentId],
  );
  return result.rows[0]?.previous ?? null;
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
