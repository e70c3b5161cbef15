// The retention policy on real parts: Postgres, a local artifact store and Docker volumes.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, test } from "node:test";
import Docker from "dockerode";
import pino from "pino";
import { createLocalArtifactStore, type ArtifactStore } from "../../src/artifacts/local-artifact-store.js";
import { pruneDeployments } from "../../src/deployments/prune-deployments.js";
import { cacheVolumeName, ensureCacheVolume, pruneCacheVolumes } from "../../src/pipeline/build-cache.js";
import { switchAlias } from "../../src/store/aliases.js";
import { createQueuedDeployment } from "../../src/store/deployments.js";
import { upsertFunction } from "../../src/store/functions.js";
import { upsertRepository } from "../../src/store/repositories.js";
import { createTestDatabase } from "../support/create-test-database.js";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let artifacts: ArtifactStore;
let artifactDir: string;
const log = pino({ level: "silent" });
const docker = new Docker();

before(async () => {
  database = await createTestDatabase();
  artifactDir = await mkdtemp(join(tmpdir(), "slipway-retention-"));
  artifacts = createLocalArtifactStore(artifactDir);
  await upsertRepository(database.db, { id: 1, installationId: 9, owner: "o", name: "r", cloneUrl: "http://x/o/r.git", defaultBranch: "main" });
});
after(async () => {
  await database.drop();
  await rm(artifactDir, { recursive: true, force: true });
});

const newFunction = async (name: string) =>
  (await upsertFunction(database.db, { repositoryId: 1, name, slug: `${name}~r~o`, runtime: "node-20", root: ".", entrypoint: "index.js", commands: "", branch: "main", cache: true })).id;

async function readyDeployment(functionId: string, content: string): Promise<{ id: string; version: number; digest: string }> {
  const queued = await createQueuedDeployment(database.db, {
    functionId, commitSha: "a".repeat(40), ref: "refs/heads/main", trigger: "push", deliveryId: randomUUID(), runtime: "node-20", entrypoint: "index.js", commands: "", root: ".",
  });
  const { digest } = await artifacts.put(Readable.from([Buffer.from(content)]), 1024);
  await database.db.query("update deployments set status = 'ready', artifact_digest = $2 where id = $1", [queued.id, digest]);
  return { id: queued.id, version: queued.version, digest };
}

const setAlias = (functionId: string, name: string, deploymentId: string) =>
  database.db.query(
    "insert into aliases (function_id, name, deployment_id) values ($1, $2, $3) on conflict (function_id, name) do update set deployment_id = excluded.deployment_id",
    [functionId, name, deploymentId],
  );
const prunedVersions = async (functionId: string) =>
  (await database.db.query<{ version: number }>("select version from deployments where function_id = $1 and pruned_at is not null order by version", [functionId])).rows.map((r) => r.version);

test("the newest builds and every aliased one are kept; others are marked, then their unshared blobs removed; a switch to one is refused", async () => {
  const functionId = await newFunction("keep");
  const v = [];
  for (const content of ["one", "two", "three", "four", "one", "six"]) v.push(await readyDeployment(functionId, content)); // v1 and v5 share a build
  await setAlias(functionId, "production", v[5]!.id);
  await setAlias(functionId, "pr-1", v[1]!.id);

  const first = await pruneDeployments({ db: database.db, artifacts, log }, { keep: 2, graceSeconds: 0 });
  assert.deepEqual(await prunedVersions(functionId), [1, 3, 4], "v5 and v6 are the newest two, v2 is a preview");
  assert.equal(first.removedBlobs, 0, "blobs wait for a later pass");
  for (const d of v) assert.ok(await artifacts.has(d.digest));

  const refused = await switchAlias(database.db, functionId, "production", v[2]!.id);
  assert.deepEqual(refused.switched ? null : refused.reason, "v3's build was removed by the retention policy (SLIPWAY_KEEP_DEPLOYMENTS); redeploy its commit to serve it again");

  // A rollback that read v4 before it was marked switched to it meanwhile: v4 is kept after all.
  await setAlias(functionId, "pr-2", v[3]!.id);
  const second = await pruneDeployments({ db: database.db, artifacts, log }, { keep: 2, graceSeconds: 0 });
  assert.deepEqual({ restored: second.restored, removedBlobs: second.removedBlobs }, { restored: 1, removedBlobs: 1 });
  assert.deepEqual(await prunedVersions(functionId), [1, 3]);
  assert.equal(await artifacts.has(v[2]!.digest), false, "v3's build is gone");
  assert.ok(await artifacts.has(v[0]!.digest), "v1's build is v5's too, so it stays");
  for (const d of [v[1]!, v[3]!, v[4]!, v[5]!]) assert.ok(await artifacts.has(d.digest));
});

test("a blob written again within the grace period stays, and keep 0 prunes nothing", async () => {
  const functionId = await newFunction("grace");
  const old = await readyDeployment(functionId, "grace-old");
  const current = await readyDeployment(functionId, "grace-new");
  await setAlias(functionId, "production", current.id);
  assert.deepEqual(await pruneDeployments({ db: database.db, artifacts, log }, { keep: 0, graceSeconds: 0 }), { marked: 0, restored: 0, removedBlobs: 0 });
  await pruneDeployments({ db: database.db, artifacts, log }, { keep: 1, graceSeconds: 0 });
  assert.deepEqual(await prunedVersions(functionId), [old.version]);
  await database.db.query("update deployments set pruned_at = now() - interval '1 hour' where id = $1", [old.id]);
  const pass = await pruneDeployments({ db: database.db, artifacts, log }, { keep: 1, graceSeconds: 600 });
  assert.equal(pass.removedBlobs, 0, "the blob was written a moment ago: a build may be about to use it");
  assert.ok(await artifacts.has(old.digest));
});

test("build caches of functions that stopped building are removed; recent and unknown ones stay", async () => {
  const idle = await newFunction("idle");
  const busy = await newFunction("busy");
  await readyDeployment(idle, "idle");
  await readyDeployment(busy, "busy");
  await database.db.query("update deployments set created_at = now() - interval '30 days' where function_id = $1", [idle]);
  const stranger = randomUUID();
  const names = [await ensureCacheVolume(docker, idle, "node-20"), await ensureCacheVolume(docker, busy, "node-20"), await ensureCacheVolume(docker, stranger, "node-20")];
  try {
    const removed = await pruneCacheVolumes(docker, database.db, 14);
    assert.deepEqual(removed, [cacheVolumeName(idle, "node-20")]);
    const left = new Set(((await docker.listVolumes({ filters: { label: ["slipway.role=build-cache"] } })).Volumes ?? []).map((volume) => volume.Name));
    assert.ok(!left.has(names[0]!));
    assert.ok(left.has(names[1]!), "a function that built recently keeps its cache");
    assert.ok(left.has(names[2]!), "a volume this database does not know is left alone");
    assert.deepEqual(await pruneCacheVolumes(docker, database.db, 0), [], "0 keeps every cache");
  } finally {
    await Promise.all(names.map((name) => docker.getVolume(name).remove().catch(() => {})));
  }
});
