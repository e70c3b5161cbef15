// The console's live tail hears of executions from PostgreSQL (migration 019's triggers, and
// listen-for-execution-changes.ts): one notice per function and statement, a batched insert
// of many rows included; and after its connection is cut, the listener takes a new one, tells
// every subscriber (notices sent in between are lost) and hears later changes again.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { createExecution, finishExecution } from "../../src/store/executions.js";
import { upsertFunction } from "../../src/store/functions.js";
import { listenForExecutionChanges, type ExecutionChanges } from "../../src/store/listen-for-execution-changes.js";
import { upsertRepository } from "../../src/store/repositories.js";
import { createTestDatabase } from "../support/create-test-database.js";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let changes: ExecutionChanges;
const ids: Record<string, string> = {};

before(async () => {
  database = await createTestDatabase();
  await upsertRepository(database.db, { id: 1, installationId: 9, owner: "o", name: "r", cloneUrl: "http://x/o/r.git", defaultBranch: "main" });
  for (const name of ["watched", "other"]) {
    ids[name] = (await upsertFunction(database.db, { repositoryId: 1, name, slug: `${name}~r~o`, runtime: "node-20", root: ".", entrypoint: "index.js", commands: "", branch: "main", cache: true })).id;
  }
  changes = listenForExecutionChanges(database.db, { retryMs: 100 });
});
after(async () => {
  await changes.close();
  await database.drop();
});

/** Once listening: `heard`, which resolves at the next change heard for the function. */
async function nextChange(functionId: string): Promise<{ heard: Promise<void> }> {
  let resolve!: () => void;
  const next = new Promise<void>((done) => (resolve = done));
  const stop = await changes.subscribe(functionId, () => resolve());
  // Wrapped: an async function returning the promise itself would wait for it.
  return { heard: next.finally(stop) };
}

const request = { method: "POST", path: "/job", headers: {}, body: "" };

test("a new execution, and its finishing, each reach the function's subscribers, and no one else's", { timeout: 30_000 }, async () => {
  const heard: string[] = [];
  const stopWatched = await changes.subscribe(ids.watched!, () => heard.push("watched"));
  const stopOther = await changes.subscribe(ids.other!, () => heard.push("other"));
  const created = await nextChange(ids.watched!);
  const { id } = await createExecution(database.db, { functionId: ids.watched!, trigger: "async", status: "processing", request });
  await created.heard;
  const finished = await nextChange(ids.watched!);
  await finishExecution(database.db, id, { status: "completed", deploymentId: null, statusCode: 200, headers: {}, body: "", logs: "", errors: "", logId: null, durationMs: 5 });
  await finished.heard;
  // A change to the other function, heard after both of the watched one's: notices keep their order.
  const otherCreated = await nextChange(ids.other!);
  await createExecution(database.db, { functionId: ids.other!, trigger: "async", status: "waiting", request });
  await otherCreated.heard;
  stopWatched();
  stopOther();
  assert.deepEqual(heard, ["watched", "watched", "other"]);
});

test("a batch of rows in one statement is one notice per function", { timeout: 30_000 }, async () => {
  const heard: string[] = [];
  const stop = await changes.subscribe(ids.watched!, () => heard.push("batch"));
  await database.db.query(
    `insert into executions (id, function_id, trigger, status, request_method, request_path)
     select gen_random_uuid(), $1, 'http', 'completed', 'GET', '/n' || n from generate_series(1, 50) as n`,
    [ids.watched],
  );
  // Notices arrive in commit order: once a later one for another function is heard, every
  // notice of the batch has arrived. (One for the same function could be the batch's own.)
  const marker = await nextChange(ids.other!);
  await createExecution(database.db, { functionId: ids.other!, trigger: "async", status: "waiting", request: { ...request, path: `/${randomUUID()}` } });
  await marker.heard;
  stop();
  assert.deepEqual(heard, ["batch"], "one notice for the 50-row insert");
});

test("a cut connection is taken again: subscribers are told to read again, and later changes are heard", { timeout: 30_000 }, async () => {
  let told = 0;
  const stop = await changes.subscribe(ids.watched!, () => told++);
  const toldAfterCut = new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (told > 0) {
        clearInterval(check);
        resolve();
      }
    }, 20);
  });
  const cut = await database.db.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query ilike 'listen %'");
  assert.equal(cut.rowCount, 1, "the listener's connection was found and cut");
  await toldAfterCut;
  // Heard again once it listens anew: keep making changes until one arrives (reconnecting takes a moment).
  const before = told;
  for (let attempt = 0; told === before && attempt < 200; attempt++) {
    await createExecution(database.db, { functionId: ids.watched!, trigger: "async", status: "waiting", request });
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  stop();
  assert.ok(told > before, "a change after the reconnect is heard");
});
