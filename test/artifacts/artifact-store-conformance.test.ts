// Issue 15, deliverables 1 and 2: one set of cases that every artifact store must pass, run
// against the local directory and against a real S3-compatible server (versitygw, started
// here on a free port). Then what only the S3 store has: each node's read-through cache (its
// bound, its eviction, its digest check) and errors that never carry a credential.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { createArtifactCache } from "../../src/artifacts/artifact-cache.js";
import { ArtifactStoreError, ArtifactTooLargeError, type ArtifactStore } from "../../src/artifacts/artifact-store.js";
import { createLocalArtifactStore } from "../../src/artifacts/local-artifact-store.js";
import { createS3ArtifactStore, type S3ArtifactStoreSettings } from "../../src/artifacts/s3-artifact-store.js";
import { ConfigError, loadConfig } from "../../src/config/load-config.js";
import { startS3Server, type S3Server } from "../support/start-s3-server.js";
import { freePort } from "../support/start-slipway-stack.js";

const megabyte = 1024 * 1024;
const sha256 = (bytes: Buffer) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const readAll = async (stream: Readable) => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};
const until = async (condition: () => Promise<boolean>, what: string) => {
  for (let i = 0; i < 600; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting until ${what}`);
};

/** A store under test, with what a test needs to look behind its back. */
type Harness = {
  store: ArtifactStore;
  /** Every object or file the store holds, committed or temporary. */
  everything(): Promise<string[]>;
  /** Whether a put has started writing somewhere (a temporary file, a multipart upload). */
  writing(): Promise<boolean>;
  /** Leaves what a put killed mid-way leaves: a temporary file or object. */
  orphan(): Promise<void>;
};

let server: S3Server;
let workDir: string;
let s3: S3Client;

before(async () => {
  server = await startS3Server();
  workDir = await mkdtemp(join(tmpdir(), "slipway-conformance-"));
  s3 = new S3Client({ endpoint: server.endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey } });
});
after(async () => {
  s3?.destroy();
  await server?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function filesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

async function localHarness(): Promise<Harness> {
  const directory = await mkdtemp(join(workDir, "local-"));
  return {
    store: createLocalArtifactStore(directory),
    everything: () => filesUnder(directory),
    writing: async () => (await filesUnder(join(directory, "tmp"))).length > 0,
    orphan: () => writeFile(join(directory, "tmp", "killed-put"), randomBytes(1000)),
  };
}

let prefixes = 0;
function s3Settings(overrides: Partial<S3ArtifactStoreSettings> = {}): S3ArtifactStoreSettings {
  return {
    endpoint: server.endpoint,
    bucket: server.bucket,
    prefix: `store-${++prefixes}/`,
    region: "us-east-1",
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    forcePathStyle: true,
    partSize: 5 * megabyte,
    ...overrides,
  };
}

async function s3Harness(cacheBytes = 64 * megabyte, settings = s3Settings()): Promise<Harness & { cacheDir: string; prefix: string }> {
  const cacheDir = await mkdtemp(join(workDir, "cache-"));
  const list = async () => (await s3.send(new ListObjectsV2Command({ Bucket: server.bucket, Prefix: settings.prefix }))).Contents?.map((o) => o.Key!) ?? [];
  const uploads = async () => (await s3.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: settings.prefix }))).Uploads?.map((u) => u.Key!) ?? [];
  return {
    store: createS3ArtifactStore(settings, createArtifactCache(cacheDir, cacheBytes)),
    everything: async () => [...(await list()), ...(await uploads()).map((key) => `multipart:${key}`)],
    writing: async () => (await list()).length + (await uploads()).length > 0,
    orphan: async () => void (await s3.send(new PutObjectCommand({ Bucket: server.bucket, Key: `${settings.prefix}tmp/killed-put`, Body: randomBytes(1000) }))),
    cacheDir,
    prefix: settings.prefix,
  };
}

const stores: [string, () => Promise<Harness>][] = [
  ["local directory", localHarness],
  ["S3 (versitygw)", () => s3Harness()],
];

for (const [name, makeHarness] of stores) {
  describe(`${name} store`, () => {
    test("put, open, has, age and remove a blob, addressed by its sha256", async () => {
      const { store, everything } = await makeHarness();
      await store.check();
      const content = randomBytes(300_000);
      const stored = await store.put(Readable.from([content.subarray(0, 1000), content.subarray(1000)]), megabyte);
      assert.deepEqual(stored, { digest: sha256(content), size: content.length });
      assert.equal(await store.has(stored.digest), true);
      assert.deepEqual(await readAll(store.open(stored.digest)), content);
      const age = await store.age(stored.digest);
      assert.ok(age !== null && age < 10 * 60_000, `a fresh blob is young (age ${age})`);
      assert.equal((await everything()).length, 1, "one blob, no temporary left");

      await store.remove(stored.digest);
      assert.equal(await store.has(stored.digest), false);
      assert.equal(await store.age(stored.digest), null);
      await assert.rejects(readAll(store.open(stored.digest)));
      assert.deepEqual(await everything(), []);
      assert.throws(() => store.open("sha256:../../etc/passwd"), /not an artifact digest/);
    });

    test("a put cut off mid-stream leaves nothing visible, not even while it is being written", async () => {
      const { store, everything, writing } = await makeHarness();
      const source = new PassThrough();
      const putting = store.put(source, 64 * megabyte);
      putting.catch(() => {});
      const written = randomBytes(11 * megabyte);
      // More than two parts of a multipart upload, fed as the store takes them.
      for (let offset = 0; offset < written.length; offset += megabyte) {
        if (!source.write(written.subarray(offset, offset + megabyte))) await new Promise((r) => source.once("drain", r));
      }
      await until(writing, "the put has started writing");
      assert.equal(await store.has(sha256(written)), false, "what is written so far is not a blob");
      source.destroy(new Error("the client went away"));
      await assert.rejects(putting, /the client went away/);
      assert.equal(await store.has(sha256(written)), false);
      await until(async () => (await everything()).length === 0, "the aborted put's temporary data is gone");
    });

    test("a put over the size limit is refused and leaves nothing behind", async () => {
      const { store, everything } = await makeHarness();
      await assert.rejects(store.put(Readable.from([randomBytes(600_000), randomBytes(600_000)]), megabyte), ArtifactTooLargeError);
      assert.deepEqual(await everything(), []);
    });

    test("concurrent puts of the same content agree on one blob", async () => {
      const { store, everything } = await makeHarness();
      const content = randomBytes(2 * megabyte);
      const results = await Promise.all(Array.from({ length: 5 }, () => store.put(Readable.from([content]), 4 * megabyte)));
      for (const result of results) assert.deepEqual(result, { digest: sha256(content), size: content.length });
      assert.equal((await everything()).length, 1);
      assert.deepEqual(await readAll(store.open(sha256(content))), content);
    });

    test("a large artifact streams in through a multipart upload and back out whole", async () => {
      const { store } = await makeHarness();
      const content = randomBytes(23 * megabyte);
      const chunks = Array.from({ length: 23 }, (_, i) => content.subarray(i * megabyte, (i + 1) * megabyte));
      const stored = await store.put(Readable.from(chunks), 64 * megabyte);
      assert.equal(stored.digest, sha256(content));
      assert.equal(sha256(await readAll(store.open(stored.digest))), stored.digest);
    });

    test("unfinished writes older than asked are swept; a blob is never touched", async () => {
      const { store, everything, orphan } = await makeHarness();
      const kept = await store.put(Readable.from([randomBytes(1000)]), megabyte);
      await orphan();
      assert.equal(await store.sweepTemporary(0), 1, "a killed put's leftovers are swept");
      assert.equal((await everything()).length, 1);
      const source = new PassThrough();
      const putting = store.put(source, 64 * megabyte);
      source.write(randomBytes(6 * megabyte));
      await until(async () => (await everything()).length > 1, "the put has started writing");
      assert.equal(await store.sweepTemporary(60 * 60_000), 0, "a young write is left alone");
      source.end();
      await putting;
      assert.equal(await store.sweepTemporary(0), 0, "nothing unfinished is left");
      assert.equal(await store.has(kept.digest), true);
    });
  });
}

describe("S3 store: each node's read-through cache", () => {
  test("keeps recently read blobs within its bound, evicting the least recently used", async () => {
    const { store, cacheDir } = await s3Harness(3 * megabyte);
    const blobs = await Promise.all([1, 2, 3].map(() => store.put(Readable.from([randomBytes(1.2 * megabyte)]), 4 * megabyte)));
    const cacheBytes = async () => (await Promise.all((await filesUnder(join(cacheDir, "sha256"))).map(async (f) => (await stat(f)).size))).reduce((a, b) => a + b, 0);
    const cached = async () => (await filesUnder(join(cacheDir, "sha256"))).map((f) => `sha256:${f.split("/").pop()}`).sort();

    for (const blob of blobs.slice(0, 2)) await readAll(store.open(blob.digest));
    assert.deepEqual(await cached(), [blobs[0]!.digest, blobs[1]!.digest].sort());
    await readAll(store.open(blobs[0]!.digest)); // now blob 1 is the least recently used
    await readAll(store.open(blobs[2]!.digest));
    assert.deepEqual(await cached(), [blobs[0]!.digest, blobs[2]!.digest].sort(), "blob 1, the least recently used, went");
    assert.ok((await cacheBytes()) <= 3 * megabyte, "the cache stays within its bound");

    // A blob larger than the whole cache is read straight from the store and not kept.
    const large = await store.put(Readable.from([randomBytes(4 * megabyte)]), 8 * megabyte);
    assert.equal(sha256(await readAll(store.open(large.digest))), large.digest);
    assert.equal((await cached()).includes(large.digest), false);
    assert.ok((await cacheBytes()) <= 3 * megabyte);
  });

  test("processes that share one cache directory share its bound", async () => {
    const settings = s3Settings();
    const first = await s3Harness(3 * megabyte, settings);
    const second = createS3ArtifactStore(settings, createArtifactCache(first.cacheDir, 3 * megabyte));
    const blobs = await Promise.all([1, 2, 3].map(() => first.store.put(Readable.from([randomBytes(1.2 * megabyte)]), 4 * megabyte)));
    await readAll(first.store.open(blobs[0]!.digest));
    await readAll(second.open(blobs[1]!.digest));
    await readAll(first.store.open(blobs[2]!.digest));
    const cached = (await filesUnder(join(first.cacheDir, "sha256"))).map((f) => `sha256:${f.split("/").pop()}`).sort();
    assert.deepEqual(cached, [blobs[1]!.digest, blobs[2]!.digest].sort(), "the other process's read counts, and the oldest went");
  });

  test("serves a cached blob without the store, and a restarted node finds its cache again", async () => {
    const settings = s3Settings();
    const { store, cacheDir } = await s3Harness(8 * megabyte, settings);
    const content = randomBytes(100_000);
    const stored = await store.put(Readable.from([content]), megabyte);
    await readAll(store.open(stored.digest));
    // Behind the store's back the object becomes other bytes; the cached copy is what is served.
    const key = `${settings.prefix}sha256/${stored.digest.slice(7, 9)}/${stored.digest.slice(7)}.tar.gz`;
    await s3.send(new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: randomBytes(100_000) }));
    assert.deepEqual(await readAll(store.open(stored.digest)), content);

    const restarted = createS3ArtifactStore(settings, createArtifactCache(cacheDir, 8 * megabyte));
    assert.deepEqual(await readAll(restarted.open(stored.digest)), content);

    // A node without that cache downloads the changed object and refuses it, cached or not.
    for (const cacheBytes of [8 * megabyte, 0]) {
      const otherNode = (await s3Harness(cacheBytes, settings)).store;
      await assert.rejects(readAll(otherNode.open(stored.digest)), (error: Error) => error instanceof ArtifactStoreError && /does not match its digest/.test(error.message));
    }
  });

  test("concurrent reads of one blob share one download", async () => {
    const { store, cacheDir } = await s3Harness(8 * megabyte);
    const content = randomBytes(3 * megabyte);
    const stored = await store.put(Readable.from([content]), 4 * megabyte);
    const reads = await Promise.all(Array.from({ length: 6 }, () => readAll(store.open(stored.digest))));
    for (const read of reads) assert.deepEqual(read, content);
    assert.equal((await filesUnder(join(cacheDir, "sha256"))).length, 1);
    assert.deepEqual(await filesUnder(join(cacheDir, "tmp")), [], "no download left half-kept");
  });
});

describe("S3 store: errors say what to fix and carry no credential", () => {
  const secretOf = (message: string, ...secrets: string[]) => secrets.filter((secret) => message.includes(secret));

  test("a wrong secret", async () => {
    const secret = `wrong-${randomBytes(16).toString("hex")}`;
    const { store } = await s3Harness(megabyte, s3Settings({ credentials: { accessKeyId: server.accessKeyId, secretAccessKey: secret } }));
    const attempts = [() => store.check(), () => store.put(Readable.from([randomBytes(1000)]), megabyte), () => readAll(store.open(sha256(Buffer.from("x")))), () => store.has(sha256(Buffer.from("y")))];
    for (const attempt of attempts) {
      const error = await attempt().then(
        () => assert.fail("a wrong secret was accepted"),
        (e: Error) => e,
      );
      assert.ok(error instanceof ArtifactStoreError, `an ArtifactStoreError, not ${error.name}: ${error.message}`);
      assert.match(error.message, /SLIPWAY_S3_SECRET_ACCESS_KEY/);
      const everything = `${error.message} ${error.stack} ${JSON.stringify(error)} ${String((error as { cause?: unknown }).cause)}`;
      assert.deepEqual(secretOf(everything, secret, server.secretAccessKey), []);
    }
  });

  test("a missing bucket and an unreachable server", async () => {
    const missing = (await s3Harness(megabyte, s3Settings({ bucket: "no-such-bucket-here" }))).store;
    await assert.rejects(missing.check(), /the bucket no-such-bucket-here does not exist .*SLIPWAY_S3_BUCKET/);
    const created = (await s3Harness(megabyte, s3Settings({ bucket: "made-at-start", createBucket: true }))).store;
    await created.check();
    const stored = await created.put(Readable.from([Buffer.from("in a bucket made at start")]), megabyte);
    assert.equal(await created.has(stored.digest), true, "SLIPWAY_S3_CREATE_BUCKET=true makes the missing bucket");
    const closed = await freePort(); // free, so nothing answers there
    const unreachable = (await s3Harness(megabyte, s3Settings({ endpoint: `http://127.0.0.1:${closed}` }))).store;
    const error = await unreachable.check().then(() => assert.fail("an unreachable server answered"), (e: Error) => e);
    assert.match(error.message, /cannot reach http:\/\/127\.0\.0\.1:\d+ .*SLIPWAY_S3_ENDPOINT/);
    assert.deepEqual(secretOf(`${error.message} ${error.stack}`, server.secretAccessKey), []);
  });

  test("settings: what is missing is named, the secret never", () => {
    const secret = `secret-${randomBytes(12).toString("hex")}`;
    const base = { SLIPWAY_GATEWAY_SECRET: "a".repeat(24), SLIPWAY_ARTIFACT_STORE: "s3", SLIPWAY_S3_SECRET_ACCESS_KEY: secret };
    const error = (() => {
      try {
        loadConfig("gateway", { ...base, SLIPWAY_S3_ENDPOINT: "http://user:pw@minio:9000", SLIPWAY_S3_PREFIX: "../x" });
      } catch (e) {
        return e as Error;
      }
      assert.fail("bad settings were accepted");
    })();
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /SLIPWAY_S3_ENDPOINT must be an http:\/\/ or https:\/\/ URL without a user or password/);
    assert.match(error.message, /SLIPWAY_S3_PREFIX must/);
    assert.equal(error.message.includes(secret), false);
    assert.equal(error.message.includes("pw@"), false);

    assert.throws(() => loadConfig("gateway", base), /SLIPWAY_S3_BUCKET is required when SLIPWAY_ARTIFACT_STORE=s3[\s\S]*SLIPWAY_S3_ACCESS_KEY_ID is required when SLIPWAY_S3_SECRET_ACCESS_KEY is set/);
    assert.throws(() => loadConfig("gateway", { SLIPWAY_GATEWAY_SECRET: "a".repeat(24), SLIPWAY_S3_BUCKET: "artifacts" }), /SLIPWAY_S3_BUCKET is only read when SLIPWAY_ARTIFACT_STORE=s3/);
    const config = loadConfig("gateway", { ...base, SLIPWAY_S3_BUCKET: "artifacts", SLIPWAY_S3_ACCESS_KEY_ID: "id", SLIPWAY_S3_PREFIX: "teams/slipway" });
    assert.equal(config.SLIPWAY_S3_PREFIX, "teams/slipway/");
  });
});
