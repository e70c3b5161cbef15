import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { claimDueDelivery, forgetOldDeliveries, markDeliveryFailed, markDeliveryProcessed, receiveDelivery } from "../../src/store/webhook-deliveries.js";
import { createTestDatabase } from "../support/create-test-database.js";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
before(async () => {
  database = await createTestDatabase();
});
after(() => database.drop());

const retried = ["push", "check_run.rerequested"];
const claim = (maxAttempts = 3) => claimDueDelivery(database.db, { leaseSeconds: 60, maxAttempts, retried });
const dueNow = (id: string) => database.db.query("update webhook_deliveries set retry_at = now() - interval '1 second' where id = $1", [id]);
const row = async (id: string) =>
  (await database.db.query<{ status: string; attempts: number; last_error: string | null }>("select status, attempts, last_error from webhook_deliveries where id = $1", [id])).rows[0]!;

test("a delivery is new, then pending until handled, then processed; its payload is kept", async () => {
  const delivery = { id: "d-1", event: "push", action: null, payload: { ref: "refs/heads/main" } };
  assert.deepEqual(await receiveDelivery(database.db, delivery, 60), { state: "new", attempts: 1 });
  assert.deepEqual(await receiveDelivery(database.db, delivery, 60), { state: "pending", attempts: 1 });
  assert.equal((await claim()).due, null, "not due while its first try has its lease");
  await markDeliveryProcessed(database.db, "d-1");
  assert.equal((await receiveDelivery(database.db, delivery, 60)).state, "processed");
  assert.deepEqual((await database.db.query("select payload from webhook_deliveries where id = 'd-1'")).rows[0].payload, { ref: "refs/heads/main" });
});

test("a failed try is claimed when due, once across claimers, and given up after its last attempt", async () => {
  await receiveDelivery(database.db, { id: "d-2", event: "push", action: null, payload: { n: 2 } }, 60);
  await markDeliveryFailed(database.db, "d-2", "GitHub said 502", 0);
  const [first, second] = await Promise.all([claim(), claim()]);
  const claimed = [first.due, second.due].filter((d) => d !== null);
  assert.equal(claimed.length, 1, "one claimer gets it");
  assert.deepEqual(claimed[0], { id: "d-2", event: "push", payload: { n: 2 }, attempts: 2 });
  assert.equal((await claim()).due, null, "leased to that claimer");

  await dueNow("d-2"); // that claimer died: its lease runs out
  assert.equal((await claim()).due?.attempts, 3);
  await dueNow("d-2");
  const last = await claim();
  assert.equal(last.due, null);
  assert.deepEqual(last.gaveUp, [{ id: "d-2", event: "push" }]);
  assert.deepEqual(await row("d-2"), { status: "failed", attempts: 3, last_error: "GitHub said 502" });
});

test("a failure with no retry left is final; a handler that is not retried is given up, never run again", async () => {
  await receiveDelivery(database.db, { id: "d-3", event: "push", action: null, payload: {} }, 60);
  await markDeliveryFailed(database.db, "d-3", "bad", null);
  assert.equal((await row("d-3")).status, "failed");

  await receiveDelivery(database.db, { id: "d-4", event: "issue_comment", action: "created", payload: {} }, 60);
  await receiveDelivery(database.db, { id: "d-5", event: "check_run", action: "rerequested", payload: {} }, 60);
  await dueNow("d-4");
  await dueNow("d-5");
  const claimed = await claim();
  assert.equal(claimed.due?.id, "d-5", "a re-run is retried");
  assert.deepEqual(claimed.gaveUp, [{ id: "d-4", event: "issue_comment" }]);
  assert.deepEqual(await row("d-4"), { status: "failed", attempts: 1, last_error: "the app stopped while handling it" });
});

test("deliveries finished more than the retention ago are forgotten; unfinished ones never are", async () => {
  for (const id of ["old-done", "old-waiting", "new-done"]) await receiveDelivery(database.db, { id, event: "push", action: null, payload: { big: "x".repeat(1000) } }, 60);
  await markDeliveryProcessed(database.db, "old-done");
  await markDeliveryProcessed(database.db, "new-done");
  await database.db.query("update webhook_deliveries set received_at = now() - interval '20 days' where id like 'old-%'");
  assert.equal(await forgetOldDeliveries(database.db, 14), 1);
  const left = (await database.db.query<{ id: string }>("select id from webhook_deliveries where id in ('old-done', 'old-waiting', 'new-done') order by id")).rows.map((r) => r.id);
  assert.deepEqual(left, ["new-done", "old-waiting"]);
});
