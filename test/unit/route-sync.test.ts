// How gateways agree on a switch (src/gateway/route-sync.ts), on a real Redis: an
// announcement waits until every other live gateway has applied the change; one that
// cannot apply it, or never answers, is named; one that died is not waited for once its
// registration runs out.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import { Redis } from "ioredis";
import { pino } from "pino";
import { startRouteSync, type RouteSync } from "../../src/gateway/route-sync.js";

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const log = pino({ level: "silent" });
const connections: Redis[] = [];
const syncs: RouteSync[] = [];

function connect(): Redis {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  connections.push(redis);
  return redis;
}

async function gateway(prefix: string, refresh: (functionId: string) => Promise<void>, confirmTimeoutMs = 10_000): Promise<RouteSync> {
  const sync = await startRouteSync({ prefix, publisher: connect(), subscriber: connect(), confirmTimeoutMs, log, refresh });
  syncs.push(sync);
  return sync;
}

const prefix = () => `slipway-test-${randomBytes(6).toString("hex")}`;

describe("route sync between gateways", () => {
  after(async () => {
    for (const sync of syncs) await sync.close();
    for (const redis of connections) redis.disconnect();
  });

  test("an announcement resolves only after every other gateway applied the change", async () => {
    const at = prefix();
    const applied: string[] = [];
    const announcer = await gateway(at, async () => {
      throw new Error("the announcer does not refresh its own change");
    });
    await gateway(at, async (functionId) => {
      await new Promise((r) => setTimeout(r, 300));
      applied.push(`b:${functionId}`);
    });
    await gateway(at, async (functionId) => {
      applied.push(`c:${functionId}`);
    });
    const result = await announcer.announce("fn-1");
    assert.deepEqual(result.unconfirmed, []);
    assert.deepEqual(applied.sort(), ["b:fn-1", "c:fn-1"], "both others had applied it when the announcement resolved");
  });

  test("a gateway that cannot apply the change, and one that never answers, are named", async () => {
    const at = prefix();
    const announcer = await gateway(at, async () => {}, 1500);
    const failing = await gateway(at, async () => {
      throw new Error("could not start the container");
    });
    const silent = await gateway(at, () => new Promise(() => {}));
    const result = await announcer.announce("fn-2");
    assert.deepEqual(result.unconfirmed.sort(), [failing.gatewayId, silent.gatewayId].sort());
  });

  test("a gateway that stopped renewing its registration is not waited for", async () => {
    const at = prefix();
    const announcer = await gateway(at, async () => {}, 60_000);
    // Registered, but gone: nothing answers for it, and nothing renews it.
    const gone = connect();
    await gone.zadd(`${at}:gateways`, Date.now() + 3000, "a-gateway-that-died");
    const started = Date.now();
    const result = await announcer.announce("fn-3");
    assert.deepEqual(result.unconfirmed, []);
    // Not a speed check: the confirmation timeout is 60 s, and the registration runs out in
    // 3 s (checked every 2 s), so anything under half the timeout means it was not waited for.
    assert.ok(Date.now() - started < 30_000, "it did not wait for the confirmation timeout");
  });
});
