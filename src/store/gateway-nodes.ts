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

/** Registers the node as just started (it serves nothing yet); returns when it booted, in the database's clock. */
export async function registerGatewayNode(db: Queryable, node: { id: string; url: string }): Promise<Date> {
  const result = await db.query<{ booted_at: Date }>(
    `insert into gateway_nodes (id, url, booted_at, last_seen) values ($1, $2, now(), now())
       on conflict (id) do update set url = excluded.url, booted_at = now(), last_seen = now(), served_revision = 0, served_at = null, failing = '[]'
     returning booted_at`,
    [node.id, node.url],
  );
  return result.rows[0]!.booted_at;
}

/** Renews the node's heartbeat (registering it again if its row was removed) and forgets long-gone nodes. */
export async function heartbeatGatewayNode(db: Queryable, node: { id: string; url: string; bootedAt: Date }): Promise<void> {
  await db.query(
    `insert into gateway_nodes (id, url, booted_at, last_seen) values ($1, $2, $3, now())
       on conflict (id) do update set last_seen = now()`,
    [node.id, node.url, node.bootedAt],
  );
  await db.query("delete from gateway_nodes where last_seen < now() - make_interval(secs => $1)", [forgetAfterSeconds]);
}

export async function reportServedRevision(db: Queryable, nodeId: string, revision: number, failing: FailingRoute[]): Promise<void> {
  await db.query(
    "update gateway_nodes set served_revision = greatest(served_revision, $2), served_at = now(), failing = $3 where id = $1",
    [nodeId, revision, JSON.stringify(failing)],
  );
}

/** Every known node; live: its heartbeat is younger than liveSeconds (by the database's clock). */
export async function listGatewayNodes(db: Queryable, liveSeconds: number): Promise<GatewayNode[]> {
  const result = await db.query<GatewayNode & { servedRevision: string }>(
    `select id, url, booted_at as "bootedAt", last_seen as "lastSeen", served_revision as "servedRevision", failing,
            last_seen > now() - make_interval(secs => $1) as live
       from gateway_nodes order by id`,
    [liveSeconds],
  );
  return result.rows.map((row) => ({ ...row, servedRevision: Number(row.servedRevision) }));
}

export async function removeGatewayNode(db: Queryable, nodeId: string): Promise<void> {
  await db.query("delete from gateway_nodes where id = $1", [nodeId]);
}
