// How gateway nodes converge (src/gateway/route-sync.ts), on a real PostgreSQL and Redis:
// a switch's announcement waits until every live node reports serving its revision; a
// node that cannot serve it, one that lags past the timeout and one whose heartbeat stops
// are named; a node that never gets the hint catches up on its own timer.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { pino } from "pino";
import { startRouteSync, unconfirmedNote, type RouteSync } from "../../src/gateway/route-sync.js";
import { currentRouteRevision, listGatewayNodes, type FailingRoute } from "../../src/store/gateway-nodes.js";
import { createTestDatabase } from "../support/create-test-database.js";

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const log = pino({ level: "silent" });
const connections: Redis[] = [];
let database: Awaited<ReturnType<typeof createTestDatabase>>;

function connect(): Redis {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  connections.push(redis);
  return redis;
}

const newPrefix = () => `slipway-test-${randomBytes(6).toString("hex")}`;

type NodeOptions = { prefix: string; id: string; confirmTimeoutMs?: number; reconcileSeconds?: number; subscriber?: Redis; converge?: (revision: number) => Promise<FailingRoute[]> };

async function node(options: NodeOptions): Promise<RouteSync> {
  return startRouteSync({
    prefix: options.prefix,
    db: database.db,
    publisher: connect(),
    subscriber: options.subscriber ?? connect(),
    node: { id: options.id, url: `http://${options.id}.test:3002` },
    heartbeatSeconds: 1,
    liveSeconds: 4,
    reconcileSeconds: options.reconcileSeconds ?? 3600,
    confirmTimeoutMs: options.confirmTimeoutMs ?? 30_000,
    log,
    async converge() {
      const revision = await currentRouteRevision(database.db);
      return { revision, failing: (await options.converge?.(revision)) ?? [] };
    },
  });
}

/** What a switch does to the desired routes: the revision goes up by one. */
async function change(): Promise<number> {
  const result = await database.db.query<{ revision: string }>("update route_revision set revision = revision + 1 returning revision");
  return Number(result.rows[0]!.revision);
}

describe("gateway nodes converge on the route revision", () => {
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    for (const redis of connections) redis.disconnect();
    await database.drop();
  });

  test("a switch is reported once every other live node serves its revision", async () => {
    const prefix = newPrefix();
    const applied: string[] = [];
    let slowFrom = Infinity;
    const announcer = await node({ prefix, id: "a" });
    const slow = await node({
      prefix,
      id: "b",
      converge: async (revision) => {
        if (revision >= slowFrom) {
          await new Promise((r) => setTimeout(r, 500));
          applied.push(`b:${revision}`);
        }
        return [];
      },
    });
    const quick = await node({ prefix, id: "c", converge: async (revision) => (revision >= slowFrom && applied.push(`c:${revision}`), []) });
    const revision = await change();
    slowFrom = revision;
    const result = await announcer.announce("fn-1", revision);
    assert.deepEqual(result.unconfirmed, []);
    assert.deepEqual(applied.sort(), [`b:${revision}`, `c:${revision}`], "both others had served it when the switch was reported");
    for (const sync of [announcer, slow, quick]) await sync.close();
    assert.deepEqual(await listGatewayNodes(database.db, 4), [], "a node that closes leaves gateway_nodes");
  });

  test("a node that cannot serve the function and one that lags past the timeout are named, with the reason", async () => {
    const prefix = newPrefix();
    let stuckFrom = Infinity;
    const announcer = await node({ prefix, id: "a", confirmTimeoutMs: 1500 });
    const failing = await node({ prefix, id: "failing", converge: async () => [{ functionId: "fn-2", error: "could not start the container" }] });
    const stuck = await node({ prefix, id: "stuck", converge: (revision) => (revision >= stuckFrom ? new Promise(() => {}) : Promise.resolve([])) });
    const revision = await change();
    stuckFrom = revision;
    const result = await announcer.announce("fn-2", revision);
    assert.deepEqual(result.lagging.map((l) => l.id).sort(), ["failing", "stuck"]);
    assert.match(result.unconfirmed.find((u) => u.startsWith("failing"))!, /^failing at http:\/\/failing\.test:3002: could not serve it: could not start the container$/);
    assert.match(result.unconfirmed.find((u) => u.startsWith("stuck"))!, new RegExp(`^stuck at http://stuck\\.test:3002: serves route revision ${revision - 1}, not yet ${revision}$`));
    assert.match(unconfirmedNote(result.unconfirmed), /^2 gateways did not confirm serving it \(.*stuck at .*\); see their logs$/);
    await announcer.close();
    await failing.close();
    await stuck.close();
  });

  test("a node whose heartbeat stops is named at once, not waited for", async () => {
    const prefix = newPrefix();
    const announcer = await node({ prefix, id: "a", confirmTimeoutMs: 10 * 60_000 });
    // Registered and live, but nothing renews it and nothing serves the revision for it.
    await database.db.query("insert into gateway_nodes (id, url, booted_at, last_seen) values ('frozen', 'http://frozen.test:3002', now(), now())");
    const revision = await change();
    const result = await announcer.announce("fn-3", revision);
    assert.equal(result.lagging.length, 1);
    assert.equal(result.lagging[0]!.id, "frozen");
    assert.match(result.lagging[0]!.reason, /^its heartbeat stopped \(last seen /);
    await announcer.close();
    await database.db.query("delete from gateway_nodes where id = 'frozen'");
  });

  test("a node that never gets the hint serves the new revision by its own timer", async () => {
    // Another prefix: no hint of the announcer's ever reaches it.
    const announcer = await node({ prefix: newPrefix(), id: "a" });
    const deaf = await node({ prefix: newPrefix(), id: "deaf", reconcileSeconds: 1 });
    const revision = await change();
    const result = await announcer.announce("fn-4", revision);
    assert.deepEqual(result.unconfirmed, [], "the switch waited for the node that missed the hint, and it caught up");
    const nodes = await listGatewayNodes(database.db, 4);
    assert.deepEqual(nodes.map((n) => [n.id, n.servedRevision >= revision]), [["a", true], ["deaf", true]], JSON.stringify(nodes));
    await announcer.close();
    await deaf.close();
  });

  test("a node reconciles when its Redis connection comes back, since hints sent meanwhile are lost", async () => {
    const subscriber = connect();
    // No timer to speak of and no hint: only the reconnect can bring it up to date.
    const sync = await node({ prefix: newPrefix(), id: "reconnecting", subscriber });
    const revision = await change();
    const servedOf = async () => (await listGatewayNodes(database.db, 4)).find((n) => n.id === "reconnecting")!.servedRevision;
    assert.ok((await servedOf()) < revision);
    subscriber.disconnect(true);
    const deadline = Date.now() + 20_000;
    while ((await servedOf()) < revision && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok((await servedOf()) >= revision, "it serves the revision after reconnecting");
    await sync.close();
  });
  test("a second live process under one node id is named: the first says what to fix, and neither's close removes the other's row", async () => {
    const prefix = newPrefix();
    const first = await node({ prefix, id: "twin" });
    const second = await node({ prefix, id: "twin" });
    assert.equal(second.conflict, null);
    // The first finds out at its next heartbeat (every second here).
    const deadline = Date.now() + 15_000;
    while (first.conflict === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.match(first.conflict ?? "", /another gateway process registered as node 'twin' .*SLIPWAY_GATEWAY_NODE_ID/);
    assert.equal(second.conflict, null, "the newer process keeps the id");
    await first.close();
    const rows = (await listGatewayNodes(database.db, 60)).filter((n) => n.id === "twin");
    assert.equal(rows.length, 1, "the older one's close leaves the newer one's row");
    assert.equal(rows[0]!.bootedAt.getTime(), second.bootedAt.getTime());
    await second.close();
    assert.equal((await listGatewayNodes(database.db, 60)).filter((n) => n.id === "twin").length, 0);
  });
});
