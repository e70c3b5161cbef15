// Owns the gateway_nodes table and the route revision: which gateway nodes are live (their
// heartbeat is fresh), which revision of the desired routes each serves, and the desired
// routes themselves read together with their revision.
import { listRoutes, type Route } from "./aliases.js";
import type { Database, Queryable } from "./create-database.js";

/** A function whose routes a node could not serve at the revision it reports. */
export type FailingRoute = { functionId: string; error: string };

export type GatewayNode = {
  id: string;
  url: string;
  /** The runtime engine it runs runtimes on (RuntimeEngine.identity), if it said. */
  engine: string | null;
  bootedAt: Date;
  lastSeen: Date;
  servedRevision: number;
  failing: FailingRoute[];
  live: boolean;
};

/** Nodes not seen for this long are forgotten (their rows only name them in answers). */
const forgetAfterSeconds = 24 * 3600;

export async function currentRouteRevision(db: Queryable): Promise<number> {
  const result = await db.query<{ revision: string }>("select revision from route_revision");
  return Number(result.rows[0]?.revision ?? 0);
}

/** Every desired route and the revision they are at, from one snapshot. */
export async function readDesiredRoutes(db: Database): Promise<{ revision: number; routes: Route[] }> {
  const client = await db.connect();
  try {
    await client.query("begin isolation level repeatable read read only");
    const revision = await currentRouteRevision(client);
    const routes = await listRoutes(client);
    await client.query("commit");
    return { revision, routes };
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Registers the node as just started (it serves nothing yet); returns when it booted, in the
 * database's clock, to the millisecond so that the Date this returns matches the row exactly.
 */
export async function registerGatewayNode(db: Queryable, node: { id: string; url: string; engine?: string | undefined }): Promise<Date> {
  const result = await db.query<{ booted_at: Date }>(
    `insert into gateway_nodes (id, url, engine, booted_at, last_seen) values ($1, $2, $3, date_trunc('milliseconds', now()), now())
       on conflict (id) do update set url = excluded.url, engine = excluded.engine, booted_at = excluded.booted_at, last_seen = now(), served_revision = 0, served_at = null, failing = '[]'
     returning booted_at`,
    [node.id, node.url, node.engine ?? null],
  );
  return result.rows[0]!.booted_at;
}

/**
 * Renews the node's heartbeat (registering it again if its row was removed) and forgets
 * long-gone nodes. When another process has registered under the same id since this one did
 * (two gateways configured alike), the row stays that process's and this returns when it booted.
 */
export async function heartbeatGatewayNode(db: Queryable, node: { id: string; url: string; engine?: string | undefined; bootedAt: Date }): Promise<{ takenBy: Date | null }> {
  const renewed = await db.query(
    `insert into gateway_nodes (id, url, engine, booted_at, last_seen) values ($1, $2, $3, $4, now())
       on conflict (id) do update set last_seen = now() where gateway_nodes.booted_at = excluded.booted_at`,
    [node.id, node.url, node.engine ?? null, node.bootedAt],
  );
  await db.query("delete from gateway_nodes where last_seen < now() - make_interval(secs => $1)", [forgetAfterSeconds]);
  if (renewed.rowCount === 1) return { takenBy: null };
  const other = await db.query<{ booted_at: Date }>("select booted_at from gateway_nodes where id = $1", [node.id]);
  return { takenBy: other.rows[0]?.booted_at ?? null };
}

/** Records what the node serves; only while the row is still this process's (see heartbeatGatewayNode). */
export async function reportServedRevision(db: Queryable, node: { id: string; bootedAt: Date }, revision: number, failing: FailingRoute[]): Promise<void> {
  await db.query(
    "update gateway_nodes set served_revision = greatest(served_revision, $2), served_at = now(), failing = $3 where id = $1 and booted_at = $4",
    [node.id, revision, JSON.stringify(failing), node.bootedAt],
  );
}

/** Every known node; live: its heartbeat is younger than liveSeconds (by the database's clock). */
export async function listGatewayNodes(db: Queryable, liveSeconds: number): Promise<GatewayNode[]> {
  const result = await db.query<GatewayNode & { servedRevision: string }>(
    `select id, url, engine, booted_at as "bootedAt", last_seen as "lastSeen", served_revision as "servedRevision", failing,
            last_seen > now() - make_interval(secs => $1) as live
       from gateway_nodes order by id`,
    [liveSeconds],
  );
  return result.rows.map((row) => ({ ...row, servedRevision: Number(row.servedRevision) }));
}

/** Removes the node's row, unless another process has registered under its id since. */
export async function removeGatewayNode(db: Queryable, node: { id: string; bootedAt: Date }): Promise<void> {
  await db.query("delete from gateway_nodes where id = $1 and booted_at = $2", [node.id, node.bootedAt]);
}
