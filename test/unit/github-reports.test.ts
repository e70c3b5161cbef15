import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { claimReport, countPendingReports, markReported, markReportFailed, reportKey, reportLater, type DeploymentFacts } from "../../src/store/github-reports.js";
import { createTestDatabase } from "../support/create-test-database.js";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
before(async () => {
  database = await createTestDatabase();
});
after(() => database.drop());

const building = (deploymentId: string, log: string): DeploymentFacts => ({ kind: "deployment", deploymentId, phase: "building", log });
const ready = (deploymentId: string): DeploymentFacts => ({ kind: "deployment", deploymentId, phase: "ready", activations: [{ alias: "production", activated: true, url: "http://x/fn/a/" }] });

test("updates to one object coalesce: a reporter sends only the newest facts, once", async () => {
  const id = randomUUID();
  await reportLater(database.db, building(id, "step 1"));
  await reportLater(database.db, building(id, "step 2"));
  await reportLater(database.db, ready(id));
  const claimed = await claimReport(database.db, 60);
  assert.deepEqual(claimed, { key: `deployment:${id}`, facts: ready(id), revision: 3, attempts: 0 });
  assert.equal(await claimReport(database.db, 60), null, "leased: no second reporter sends it meanwhile");
  await markReported(database.db, claimed!.key, claimed!.revision);
  assert.equal(await claimReport(database.db, 60), null, "heard: nothing left to send");
  assert.equal(await countPendingReports(database.db), 0);
});

test("facts that arrive while a report is sent are sent after it, never beside it", async () => {
  const id = randomUUID();
  await reportLater(database.db, building(id, "started"));
  const first = (await claimReport(database.db, 60))!;
  await reportLater(database.db, ready(id));
  assert.equal(await claimReport(database.db, 60), null, "the newer revision waits for the lease");
  await markReported(database.db, first.key, first.revision);
  const second = (await claimReport(database.db, 60))!;
  assert.deepEqual(second.facts, ready(id));
  assert.equal(second.revision, 2);
  await markReported(database.db, second.key, second.revision);
});

test("a failed report backs off and is tried again; newer facts cut the backoff short", async () => {
  const id = randomUUID();
  await reportLater(database.db, building(id, "started"));
  const first = (await claimReport(database.db, 60))!;
  await markReportFailed(database.db, first.key, first.revision, "GitHub said 502", 300);
  assert.equal(await claimReport(database.db, 60), null, "waiting out its backoff");
  const row = async () => (await database.db.query("select attempts, last_error from github_reports where key = $1", [first.key])).rows[0];
  assert.deepEqual(await row(), { attempts: 1, last_error: "GitHub said 502" });
  await reportLater(database.db, ready(id));
  const again = (await claimReport(database.db, 60))!;
  assert.equal(again.key, reportKey(ready(id)));
  assert.deepEqual(again.facts, ready(id), "superseded: the newest facts go at once");
  await markReported(database.db, again.key, again.revision);
});

test("a report whose sender died is taken over when its lease runs out", async () => {
  const id = randomUUID();
  await reportLater(database.db, ready(id));
  const first = (await claimReport(database.db, 60))!;
  await database.db.query("update github_reports set leased_until = now() - interval '1 second' where key = $1", [first.key]);
  const taken = (await claimReport(database.db, 60))!;
  assert.equal(taken.key, first.key);
  await markReported(database.db, taken.key, taken.revision);
  assert.equal(await countPendingReports(database.db), 0);
});
