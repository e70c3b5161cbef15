// Issue 15, deliverables 1 and 2, end to end: a stack whose artifact store is a real
// S3-compatible server (versitygw) builds a pushed function and serves it from two gateways,
// each with a read-through cache of its own (one cold-starts it with nothing of its own on
// disk), and `slipway deploy` uploads through the same store. The local artifact directory holds no blob at all.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startS3Server, type S3Server } from "../support/start-s3-server.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const run = promisify(execFile);
const slipwayBin = fileURLToPath(new URL("../../bin/slipway.js", import.meta.url));
const owner = "bucket-co";
const repoName = "fns";
const prefix = "slipway/";
const yml = `functions:\n  - id: hello\n    runtime: node-20\n    root: hello\n    commands: \"\"\n    execute: any\n`;
const handler = (v: string) => `module.exports = async (c) => c.res.text(${JSON.stringify(v)});\n`;

describe("artifacts in S3-compatible storage", { timeout: 10 * 60_000 }, () => {
  let server: S3Server;
  let stack: SlipwayStack;
  let s3: S3Client;
  let caches: string;
  const cacheOf = (name: string) => join(caches, name);

  const keysUnder = async (path: string) =>
    (await s3.send(new ListObjectsV2Command({ Bucket: server.bucket, Prefix: `${prefix}${path}` }))).Contents?.map((o) => o.Key!) ?? [];
  const blobKey = (digest: string) => `${prefix}sha256/${digest.slice(7, 9)}/${digest.slice(7)}.tar.gz`;

  before(async () => {
    server = await startS3Server();
    s3 = new S3Client({ endpoint: server.endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey } });
    caches = await mkdtemp(join(tmpdir(), "slipway-artifact-caches-"));
    // Each process is a node of its own: its own cache, nothing shared but the bucket.
    const ownCache = (name: string) => ({ SLIPWAY_ARTIFACT_CACHE_DIR: cacheOf(name) });
    stack = await startSlipwayStack({
      env: server.env(prefix),
      extraGateways: 1,
      processEnv: { app: ownCache("app"), worker: ownCache("worker"), gateway: ownCache("gateway"), "gateway-2": ownCache("gateway-2") },
    });
  });

  after(async () => {
    s3?.destroy();
    if (stack) await stack.stop();
    if (server) await server.stop();
    if (caches) await rm(caches, { recursive: true, force: true });
  });

  test("a pushed function is built into the bucket and served by every gateway from it", async () => {
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 5151 });
    const commit = await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": yml, "hello/index.js": handler("from-s3") }, message: "first" });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: "first" }), secret: stack.webhookSecret });
    const checkRun = await stack.emulator.waitFor(
      () => stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === commit.sha && r.status === "completed"),
      { timeoutMs: 180_000, intervalMs: 200 },
    );
    assert.equal(checkRun.conclusion, "success", JSON.stringify(checkRun.output));

    const listed = (await (await fetch(`${stack.appUrl}/v1/functions`, { headers: { authorization: `Bearer ${await token()}` } })).json()) as { functions: { name: string; url: string }[] };
    const url = listed.functions.find((f) => f.name === "hello")!.url;
    const path = new URL(url).pathname;
    for (const gateway of stack.gatewayUrls) {
      await stack.emulator.waitFor(async () => ((await (await fetch(`${gateway}${path}`)).text()) === "from-s3") || undefined, { timeoutMs: 60_000, intervalMs: 200 });
    }

    const { artifact_digest: digest } = (await stack.db.query<{ artifact_digest: string }>("select artifact_digest from deployments where status = 'ready'")).rows[0]!;
    assert.deepEqual(await keysUnder(`sha256/${digest.slice(7, 9)}/`), [blobKey(digest)], "the build output is in the bucket under its digest");
    // The gateway that started the runtime read the artifact through its own cache.
    assert.deepEqual(await readdir(join(cacheOf("gateway"), "sha256")), [digest.slice(7)], "the first gateway's cache");

    // A gateway that never saw the build cold-starts it from the bucket: with every gateway
    // stopped and the runtime removed, gateway-2 alone starts again and serves.
    await stack.kill("gateway");
    await stack.kill("gateway-2");
    const docker = new Docker();
    const runtimes = await docker.listContainers({ all: true, filters: { label: [`slipway.function`] } });
    const ids = new Set((await stack.db.query<{ id: string }>("select id from deployments")).rows.map((r) => r.id));
    for (const container of runtimes.filter((c) => ids.has(c.Labels["slipway.deployment"] ?? ""))) await docker.getContainer(container.Id).remove({ force: true, v: true });
    assert.deepEqual(await readdir(join(cacheOf("gateway-2"), "sha256")).catch(() => []), [], "gateway-2 has no copy yet");
    await stack.spawnRole("gateway-2");
    await stack.emulator.waitFor(async () => ((await (await fetch(`${stack.gatewayUrls[1]}${path}`)).text()) === "from-s3") || undefined, { timeoutMs: 60_000, intervalMs: 200 });
    assert.deepEqual(await readdir(join(cacheOf("gateway-2"), "sha256")), [digest.slice(7)], "gateway-2 downloaded it into its own cache");
    await stack.spawnRole("gateway");
  });

  let apiToken = "";
  async function token(): Promise<string> {
    if (!apiToken) {
      const { stdout } = await run(process.execPath, [slipwayBin, "token", "create", "--name", "s3-user"], { env: { PATH: process.env.PATH ?? "", DATABASE_URL: stack.env.DATABASE_URL! } });
      apiToken = stdout.split("\n")[0]!;
    }
    return apiToken;
  }

  test("`slipway deploy` uploads into the bucket, and the preview builds from it", async () => {
    const functionId = (await stack.db.query<{ id: string }>("select id from functions where name = 'hello'")).rows[0]!.id;
    const dir = await mkdtemp(join(tmpdir(), "slipway-deploy-s3-"));
    await writeFile(join(dir, "index.js"), handler("uploaded-to-s3"));
    try {
      const { stdout } = await run(process.execPath, [slipwayBin, "deploy", dir, "--function", functionId], {
        env: { PATH: process.env.PATH ?? "", DATABASE_URL: stack.env.DATABASE_URL!, SLIPWAY_API_URL: stack.appUrl, SLIPWAY_TOKEN: await token() },
      });
      assert.match(stdout, /\[slipway\] deployment ready/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const upload = (await stack.db.query<{ id: string; source_digest: string; artifact_digest: string }>("select id, source_digest, artifact_digest from deployments where trigger = 'upload'")).rows[0]!;
    assert.equal(await (await fetch(`${stack.gatewayUrl}/d/${upload.id}/`)).text(), "uploaded-to-s3");
    const blobs = await keysUnder("sha256/");
    assert.ok(blobs.includes(blobKey(upload.source_digest)), "the uploaded source is in the bucket");
    assert.ok(blobs.includes(blobKey(upload.artifact_digest)), "its build output too");
  });

  test("nothing is left half-written, and the local artifact directory holds no blob", async () => {
    assert.deepEqual(await keysUnder("tmp/"), []);
    assert.deepEqual((await s3.send(new ListMultipartUploadsCommand({ Bucket: server.bucket }))).Uploads ?? [], []);
    // The stack's artifact directory also holds each gateway's nginx folder; nothing else.
    const local = (await readdir(stack.env.SLIPWAY_ARTIFACT_DIR!)).filter((name) => !name.startsWith("nginx-"));
    assert.deepEqual(local, []);
    assert.doesNotMatch(stack.logs(), new RegExp(server.secretAccessKey), "the S3 secret is in no log");
  });
});
