import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { claimNextDelivery, extendLease, forgetOldDeliveries, markDeliveryFailed, markDeliveryProcessed, recordDelivery } from "../../src/store/webhook-deliveries.js";
import { createTestDatabase } from "../support/create-test-database.js";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
before(async () => {
  database = await createTestDatabase();
});
after(() => database.drop());

const retried = ["push", "check_run.rerequested"];
const claim = (maxAttempts = 3) => claimNextDelivery(database.db, { leaseSeconds: 60, maxAttempts, retried });
const dueNow = (id: string) => database.db.query("update webhook_deliveries set retry_at = now() - interval '1 second' where id = $1", [id]);
const row = async (id: string) =>
  (await database.db.query<{ status: string; attempts: number; last_error: string | null }>("select status, attempts, last_error from webhook_deliveries where id = $1", [id])).rows[0]!;
const record = (id: string, event = "push", options: { action?: string; orderKey?: string | null; payload?: unknown } = {}) =>
  recordDelivery(database.db, { id, event, action: options.action ?? null, orderKey: options.orderKey ?? null, payload: JSON.stringify(options.payload ?? {}) });
// Deliveries of earlier tests may still be waiting; each test claims only what it recorded.
const drain = async () => {
  await database.db.query("update webhook_deliveries set status = 'processed' where status = 'received'");
};

test("a delivery is stored once, claimed by one consumer, leased while handled, then processed; its payload is kept", async () => {
  assert.equal(await record("d-1", "push", { payload: { ref: "refs/heads/main" } }), "new");
  assert.equal(await record("d-1", "push", { payload: { ref: "refs/heads/main" } }), "duplicate");
  const [first, second] = await Promise.all([claim(), claim()]);
  const claimed = [first.due, second.due].filter((d) => d !== null);
  assert.equal(claimed.length, 1, "one consumer gets it");
  assert.deepEqual(claimed[0], { id: "d-1", event: "push", payload: { ref: "refs/heads/main" }, attempts: 1 });
  assert.equal((await claim()).due, null, "not claimed again while its lease runs");
  await extendLease(database.db, "d-1", 60);
  await markDeliveryProcessed(database.db, "d-1");
  assert.equal(await record("d-1"), "duplicate", "GitHub's redelivery of a handled delivery changes nothing");
  assert.equal((await claim()).due, null);
  assert.deepEqual((await database.db.query("select payload from webhook_deliveries where id = 'd-1'")).rows[0].payload, { ref: "refs/heads/main" });
});

test("a failed try is claimed again when due, and given up after its last attempt", async () => {
  await record("d-2", "push", { payload: { n: 2 } });
  assert.equal((await claim()).due?.id, "d-2");
  await markDeliveryFailed(database.db, "d-2", "GitHub said 502", 0);
  assert.equal((await claim()).due?.attempts, 2);
  await dueNow("d-2"); // that consumer died: its lease runs out
  assert.equal((await claim()).due?.attempts, 3);
  await dueNow("d-2");
  const last = await claim();
  assert.equal(last.due, null);
  assert.deepEqual(last.gaveUp, [{ id: "d-2", event: "push", payload: { n: 2 }, attempts: 3 }], "returned with its payload, to be reported");
  assert.equal((await row("d-2")).status, "failed");
  assert.equal(await record("d-2", "push", { payload: { n: 2 } }), "requeued", "GitHub's Redeliver button tries a given-up delivery again");
  assert.deepEqual((await claim()).due, { id: "d-2", event: "push", payload: { n: 2 }, attempts: 1 });
  await drain();
});

test("a handler that is not retried is given up when its consumer died, never run again; a re-run is retried", async () => {
  await record("d-4", "issue_comment", { action: "created" });
  await record("d-5", "check_run", { action: "rerequested" });
  assert.equal((await claim()).due?.id, "d-4");
  assert.equal((await claim()).due?.id, "d-5");
  await dueNow("d-4");
  await dueNow("d-5");
  const claimed = await claim();
  assert.equal(claimed.due?.id, "d-5", "a re-run is retried");
  assert.deepEqual(claimed.gaveUp, [{ id: "d-4", event: "issue_comment", payload: {}, attempts: 1 }]);
  assert.deepEqual(await row("d-4"), { status: "failed", attempts: 1, last_error: "the app stopped while handling it" });
  await drain();
});

test("deliveries of one repository are handled one at a time in arrival order; others side by side; a failed one holds nothing up", async () => {
  await record("r1-a", "issue_comment", { action: "created", orderKey: "repository:1" });
  await record("r1-b", "push", { orderKey: "repository:1" });
  await record("r2-a", "push", { orderKey: "repository:2" });
  assert.equal((await claim()).due?.id, "r1-a");
  assert.equal((await claim()).due?.id, "r2-a", "the push after r1-a waits; another repository's does not");
  assert.equal((await claim()).due, null);
  await markDeliveryProcessed(database.db, "r1-a");
  assert.equal((await claim()).due?.id, "r1-b", "its turn once the comment before it was handled");

  await record("r3-a", "push", { orderKey: "repository:3" });
  await record("r3-b", "push", { orderKey: "repository:3" });
  assert.equal((await claim()).due?.id, "r3-a");
  await markDeliveryFailed(database.db, "r3-a", "GitHub said 502", 60);
  assert.equal((await claim()).due?.id, "r3-b", "a delivery waiting for its retry does not hold up the next");
  await drain();
});

test("deliveries finished more than the retention ago are forgotten; unfinished ones never are", async () => {
  for (const id of ["old-done", "old-waiting", "new-done"]) await record(id, "push", { payload: { big: "x".repeat(1000) } });
  await markDeliveryProcessed(database.db, "old-done");
  await markDeliveryProcessed(database.db, "new-done");
  await database.db.query("update webhook_deliveries set received_at = now() - interval '20 days' where id like 'old-%'");
  assert.equal(await forgetOldDeliveries(database.db, 14), 1);
  const left = (await database.db.query<{ id: string }>("select id from webhook_deliveries where id in ('old-done', 'old-waiting', 'new-done') order by id")).rows.map((r) => r.id);
  assert.deepEqual(left, ["new-done", "old-waiting"]);
});
