// runtime_health against a real PostgreSQL: what a gateway writes as it heals, and what the
// API reads. A streak is overwritten, not added up (several gateways see the same deaths), a
// function's report follows what its aliases serve, and an old report from a stopped
// gateway is not shown.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { switchAlias } from "../../src/store/aliases.js";
import { createQueuedDeployment } from "../../src/store/deployments.js";
import { upsertFunction } from "../../src/store/functions.js";
import { upsertRepository } from "../../src/store/repositories.js";
import { clearRuntimeHealth, listRuntimeHealth, recordRuntimeRestart } from "../../src/store/runtime-health.js";
import { createTestDatabase } from "../support/create-test-database.js";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let functionId: string;
let otherFunctionId: string;
const deploymentIds: string[] = [];
let otherDeploymentId: string;

before(async () => {
  database = await createTestDatabase();
  await upsertRepository(database.db, { id: 9, installationId: 1, owner: "o", name: "r", cloneUrl: "http://x/o/r.git", defaultBranch: "main" });
  const fn = { repositoryId: 9, runtime: "node-20", root: ".", entrypoint: "index.js", commands: "", branch: "main", cache: true };
  functionId = (await upsertFunction(database.db, { ...fn, name: "f", slug: "f~r~o" })).id;
  otherFunctionId = (await upsertFunction(database.db, { ...fn, name: "g", slug: "g~r~o" })).id;
  const deployment = (id: string, i: number) =>
    createQueuedDeployment(database.db, { functionId: id, commitSha: "a".repeat(40), ref: "refs/heads/main", trigger: "push", deliveryId: `h${i}`, runtime: "node-20", entrypoint: "index.js", commands: "", root: "." });
  for (let i = 0; i < 2; i++) deploymentIds.push((await deployment(functionId, i)).id);
  otherDeploymentId = (await deployment(otherFunctionId, 9)).id;
  await switchAlias(database.db, functionId, "production", deploymentIds[0]!);
  await switchAlias(database.db, otherFunctionId, "production", otherDeploymentId);
});
after(() => database.drop());

test("restarts in a row become a crash loop with the last exit code; the healthy function has none", async () => {
  for (let restarts = 1; restarts <= 3; restarts++) {
    await recordRuntimeRestart(database.db, { deploymentId: deploymentIds[0]!, restarts, reason: restarts === 1 ? "exited" : "start_failed", exitCode: 3, nextRestartInMs: 40_000, crashLooping: restarts >= 3 });
  }
  // A second gateway on the same engine saw the same third death: the count stays 3.
  await recordRuntimeRestart(database.db, { deploymentId: deploymentIds[0]!, restarts: 3, reason: "start_failed", exitCode: 3, nextRestartInMs: 40_000, crashLooping: true });
  const [health, ...more] = await listRuntimeHealth(database.db, { functionIds: [functionId, otherFunctionId], servedOnly: true });
  assert.equal(more.length, 0, "only the crashing function is reported");
  assert.equal(health!.functionId, functionId);
  assert.equal(health!.deploymentId, deploymentIds[0]);
  assert.deepEqual(health!.aliases, ["production"]);
  assert.equal(health!.restarts, 3);
  assert.equal(health!.crashLooping, true);
  assert.equal(health!.lastExitCode, 3);
  assert.equal(health!.lastReason, "start_failed");
  assert.ok(health!.nextRestartInSeconds! > 0 && health!.nextRestartInSeconds! <= 40, `next try in ${health!.nextRestartInSeconds} s`);
  assert.ok(health!.firstRestartAt <= health!.lastRestartAt);
});

test("another version serving ends the function's report; the deployment's own row stays until cleared", async () => {
  await switchAlias(database.db, functionId, "production", deploymentIds[1]!);
  assert.deepEqual(await listRuntimeHealth(database.db, { functionIds: [functionId], servedOnly: true }), []);
  const [row] = await listRuntimeHealth(database.db, { deploymentIds: [deploymentIds[0]!] });
  assert.deepEqual(row?.aliases, []);
  await clearRuntimeHealth(database.db, deploymentIds[0]!);
  assert.deepEqual(await listRuntimeHealth(database.db, { deploymentIds: [deploymentIds[0]!] }), []);
});

test("a new streak starts its clock again, and a report no gateway renewed for 5 minutes is not shown", async () => {
  const deploymentId = deploymentIds[1]!;
  await recordRuntimeRestart(database.db, { deploymentId, restarts: 2, reason: "exited", exitCode: 1, nextRestartInMs: 1000, crashLooping: false });
  await database.db.query("update runtime_health set first_restart_at = now() - interval '1 hour' where deployment_id = $1", [deploymentId]);
  await recordRuntimeRestart(database.db, { deploymentId, restarts: 1, reason: "unhealthy", exitCode: null, nextRestartInMs: 0, crashLooping: false });
  const [fresh] = await listRuntimeHealth(database.db, { deploymentIds: [deploymentId] });
  assert.ok(Date.now() - fresh!.firstRestartAt.getTime() < 60_000, "restarts: 1 starts a new streak");
  assert.equal(fresh!.lastExitCode, null);
  assert.equal(fresh!.nextRestartInSeconds, 0);
  await database.db.query("update runtime_health set last_restart_at = now() - interval '6 minutes' where deployment_id = $1", [deploymentId]);
  assert.deepEqual(await listRuntimeHealth(database.db, { deploymentIds: [deploymentId] }), []);
});
