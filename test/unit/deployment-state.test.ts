import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { allowedTransitions, canTransition, claimBuild, isTerminal, transitionDeployment } from "../../src/deployments/deployment-state.js";
import { createQueuedDeployment, findOverdueBuilds } from "../../src/store/deployments.js";
import { upsertFunction } from "../../src/store/functions.js";
import { upsertRepository } from "../../src/store/repositories.js";
import { createTestDatabase } from "../support/create-test-database.js";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let functionId: string;

before(async () => {
  database = await createTestDatabase();
  await upsertRepository(database.db, { id: 1, installationId: 9, owner: "o", name: "r", cloneUrl: "http://x/o/r.git", defaultBranch: "main" });
  functionId = (await upsertFunction(database.db, { repositoryId: 1, name: "f", slug: "f~r~o", runtime: "node-20", root: ".", entrypoint: "index.js", commands: "npm install", branch: "main", cache: true })).id;
});
after(() => database.drop());

const newDeployment = (deliveryId: string) =>
  createQueuedDeployment(database.db, { functionId, commitSha: "a".repeat(40), ref: "refs/heads/main", trigger: "push", deliveryId, runtime: "node-20", entrypoint: "index.js", commands: "npm install", root: "." });

test("the terminal states allow no transition, and ready is only reached from building", () => {
  for (const status of ["ready", "failed", "cancelled"] as const) assert.ok(isTerminal(status));
  assert.ok(!canTransition("queued", "ready"));
  assert.ok(canTransition("building", "ready"));
  assert.deepEqual(allowedTransitions.ready, []);
});

test("versions count up per function, and the same delivery never makes a second deployment", async () => {
  const first = await newDeployment("d1");
  const again = await newDeployment("d1");
  const second = await newDeployment("d2");
  assert.equal(first.version, 1);
  assert.equal(again.id, first.id);
  assert.equal(again.created, false);
  assert.equal(second.version, 2);
});

test("of two workers racing for the same transition, exactly one wins", async () => {
  const deployment = await newDeployment("race");
  const attempt = await claimBuild(database.db, deployment.id);
  assert.equal(attempt, 1);
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) => transitionDeployment(database.db, deployment.id, i % 2 === 0 ? "ready" : "failed", { attempt: 1 })),
  );
  assert.equal(results.filter(Boolean).length, 1);
});

test("a stale attempt cannot finish a build another worker has taken over", async () => {
  const deployment = await newDeployment("takeover");
  assert.equal(await claimBuild(database.db, deployment.id), 1);
  assert.equal(await claimBuild(database.db, deployment.id), 2, "a second worker re-claims a building deployment");
  assert.equal(await transitionDeployment(database.db, deployment.id, "ready", { attempt: 1 }), false);
  assert.equal(await transitionDeployment(database.db, deployment.id, "ready", { attempt: 2 }), true);
  assert.equal(await claimBuild(database.db, deployment.id), null, "a ready deployment is never built again");
});

test("webhooks recording the same new repository and function at once all succeed, with one row each", async () => {
  // Before retryOnInsertRace, about 1 in 100 pairs failed on the owner/name or slug index; six at
  // a time make it near certain to show.
  for (let i = 0; i < 100; i++) {
    const repo = { id: 5000 + i, installationId: 9, owner: "o", name: `race-${i}`, cloneUrl: `http://x/o/race-${i}.git`, defaultBranch: "main" };
    await Promise.all(Array.from({ length: 6 }, () => upsertRepository(database.db, repo)));
    const fn = { repositoryId: repo.id, name: "api", slug: `api--race-${i}--o`, runtime: "node-20", root: "api", entrypoint: "index.js", commands: "", branch: "main", cache: true };
    const ids = await Promise.all(Array.from({ length: 6 }, async () => (await upsertFunction(database.db, fn)).id));
    assert.equal(new Set(ids).size, 1);
  }
  const counts = await database.db.query("select (select count(*) from repositories where name like 'race-%')::int as repos, (select count(*) from functions where slug like 'api--race-%')::int as fns");
  assert.deepEqual(counts.rows[0], { repos: 100, fns: 100 });
});

test("a build is overdue after its own runtime's limit, not the shortest one (a cold Rust build may take 30 minutes)", async () => {
  const node = await newDeployment("overdue-node");
  const rust = await newDeployment("overdue-rust");
  for (const deployment of [node, rust]) assert.equal(await claimBuild(database.db, deployment.id), 1);
  await database.db.query("update deployments set runtime = 'rust-1.85' where id = $1", [rust.id]);
  // Both started 20 minutes ago: past node-20's 900 + 120 s, inside rust-1.85's 1800 + 120 s.
  await database.db.query("update deployments set build_started_at = now() - interval '20 minutes' where id = any($1)", [[node.id, rust.id]]);
  const limits: Record<string, number> = { "node-20": 1020, "rust-1.85": 1920 };
  const overdue = await findOverdueBuilds(database.db, 1020, (runtime) => limits[runtime]!);
  const ours = overdue.filter((o) => o.id === node.id || o.id === rust.id);
  assert.deepEqual(ours, [{ id: node.id, attempt: 1, limitSeconds: 1020 }]);
  await database.db.query("update deployments set build_started_at = now() - interval '33 minutes' where id = $1", [rust.id]);
  const later = (await findOverdueBuilds(database.db, 1020, (runtime) => limits[runtime]!)).filter((o) => o.id === rust.id);
  assert.deepEqual(later, [{ id: rust.id, attempt: 1, limitSeconds: 1920 }]);
});
