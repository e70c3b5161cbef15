// Owns the aliases table: the named pointers (production, pr-<n>, ...) from a function to
// one of its deployments. Switching an alias is the whole of an activation or a rollback.
import { prunedReason } from "../deployments/resolve-deployment-target.js";
import { inTransaction, type Database, type Queryable } from "./create-database.js";

export type Route = {
  slug: string;
  alias: string;
  functionId: string;
  deploymentId: string;
  artifactDigest: string;
  runtime: string;
  entrypoint: string;
};

export type AliasTarget = { deploymentId: string; pinned: boolean; version: number };

export type SwitchOptions = {
  /** true pins, false unpins, undefined keeps the alias's pin as it is. */
  pinned?: boolean;
  /** Sees what the alias points at now, under the lock; a returned string refuses the switch with that reason. */
  guard?: (current: AliasTarget | null) => string | null;
  /** Runs in the same transaction, e.g. to write the audit entry with the swap itself. */
  afterSwitch?: (client: Queryable, previousDeploymentId: string | null) => Promise<void>;
};

/**
 * Points the alias at the deployment. The decision and the swap happen under one lock per
 * alias, so two gateways switching the same alias at once are serialized, and each sees
 * the other's result.
 */
export async function switchAlias(
  db: Database,
  functionId: string,
  alias: string,
  deploymentId: string,
  options: SwitchOptions = {},
): Promise<{ switched: true; previousDeploymentId: string | null; revision: number } | { switched: false; reason: string; current: AliasTarget | null }> {
  return inTransaction(db, async (client) => {
    // An advisory lock also covers the first activation, when there is no row to lock yet.
    await client.query("select pg_advisory_xact_lock(hashtext($1))", [`alias:${functionId}:${alias}`]);
    const current = await getAlias(client, functionId, alias);
    const target = await client.query<{ version: number; pruned: boolean }>("select version, pruned_at is not null as pruned from deployments where id = $1", [deploymentId]);
    if (target.rows[0]?.pruned) return { switched: false, reason: prunedReason(target.rows[0].version), current };
    const refusal = options.guard?.(current) ?? null;
    if (refusal) return { switched: false, reason: refusal, current };
    await client.query(
      `insert into aliases (function_id, name, deployment_id, pinned) values ($1, $2, $3, coalesce($4, false))
         on conflict (function_id, name) do update set deployment_id = excluded.deployment_id,
           pinned = coalesce($4, aliases.pinned), updated_at = now()`,
      [functionId, alias, deploymentId, options.pinned ?? null],
    );
    const previousDeploymentId = current?.deploymentId ?? null;
    await options.afterSwitch?.(client, previousDeploymentId);
    // The upsert bumped the route revision (a trigger) and holds its lock until commit.
    const revision = await client.query<{ revision: string }>("select revision from route_revision");
    return { switched: true, previousDeploymentId, revision: Number(revision.rows[0]!.revision) };
  });
}

export async function getAlias(db: Queryable, functionId: string, alias: string): Promise<AliasTarget | null> {
  const result = await db.query<AliasTarget>(
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

/** Removes the alias (a closed pull request's preview); returns the deployment it pointed at. */
export async function removeAlias(db: Queryable, functionId: string, alias: string): Promise<string | null> {
  const result = await db.query<{ deployment_id: string }>("delete from aliases where function_id = $1 and name = $2 returning deployment_id", [functionId, alias]);
  return result.rows[0]?.deployment_id ?? null;
}
