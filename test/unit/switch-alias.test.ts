import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { getAlias, removeAlias, switchAlias } from "../../src/store/aliases.js";
import { currentRouteRevision, readDesiredRoutes } from "../../src/store/gateway-nodes.js";
import { recordAudit } from "../../src/store/audit-log.js";
import { createQueuedDeployment } from "../../src/store/deployments.js";
import { upsertFunction } from "../../src/store/functions.js";
import { upsertRepository } from "../../src/store/repositories.js";
import { createTestDatabase } from "../support/create-test-database.js";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let functionId: string;
const deploymentIds: string[] = [];

before(async () => {
  database = await createTestDatabase();
  await upsertRepository(database.db, { id: 7, installationId: 1, owner: "o", name: "r", cloneUrl: "http://x/o/r.git", defaultBranch: "main" });
  functionId = (await upsertFunction(database.db, { repositoryId: 7, name: "f", slug: "f~r~o", runtime: "node-20", root: ".", entrypoint: "index.js", commands: "", branch: "main", cache: true })).id;
  for (let i = 0; i < 6; i++) {
    const d = await createQueuedDeployment(database.db, { functionId, commitSha: "a".repeat(40), ref: "refs/heads/main", trigger: "push", deliveryId: `d${i}`, runtime: "node-20", entrypoint: "index.js", commands: "", root: "." });
    deploymentIds.push(d.id);
  }
});
after(() => database.drop());

test("concurrent switches of one alias are serialized: the audit log forms one unbroken chain", async () => {
  await Promise.all(
    Array.from({ length: 24 }, (_, i) =>
      switchAlias(database.db, functionId, "production", deploymentIds[i % deploymentIds.length]!, {
        afterSwitch: (client, previous) => recordAudit(client, { functionId, action: "activate", actor: `t${i}`, via: "system", fromDeploymentId: previous, toDeploymentId: deploymentIds[i % deploymentIds.length]! }),
      }),
    ),
  );
  const log = (await database.db.query<{ from_deployment_id: string | null; to_deployment_id: string }>("select from_deployment_id, to_deployment_id from audit_log order by id")).rows;
  assert.equal(log.length, 24);
  assert.equal(log[0]!.from_deployment_id, null);
  for (let i = 1; i < log.length; i++) assert.equal(log[i]!.from_deployment_id, log[i - 1]!.to_deployment_id);
  assert.equal((await getAlias(database.db, functionId, "production"))!.deploymentId, log.at(-1)!.to_deployment_id);
});

test("a guard sees the alias under the lock and can refuse; a pin survives a switch that does not mention it", async () => {
  await switchAlias(database.db, functionId, "production", deploymentIds[1]!, { pinned: true });
  const refused = await switchAlias(database.db, functionId, "production", deploymentIds[5]!, { guard: (current) => (current?.pinned ? "pinned" : null) });
  assert.deepEqual(refused.switched ? null : refused.reason, "pinned");
  await switchAlias(database.db, functionId, "production", deploymentIds[2]!);
  assert.equal((await getAlias(database.db, functionId, "production"))!.pinned, true);
});

test("every change of the aliases bumps the route revision; a switch returns the revision it committed", async () => {
  // (An upsert fires both its insert and its update statement triggers: a revision may grow by more than one.)
  const before = await currentRouteRevision(database.db);
  const first = await switchAlias(database.db, functionId, "pr-7", deploymentIds[0]!);
  assert.ok(first.switched);
  assert.ok(first.revision > before);
  assert.equal(await currentRouteRevision(database.db), first.revision);
  const second = await switchAlias(database.db, functionId, "pr-7", deploymentIds[1]!);
  assert.ok(second.switched);
  assert.ok(second.revision > first.revision);
  await removeAlias(database.db, functionId, "pr-7");
  const desired = await readDesiredRoutes(database.db);
  assert.ok(desired.revision > second.revision, "a removal is a change too");
  assert.ok(!desired.routes.some((route) => route.alias === "pr-7"));
});
