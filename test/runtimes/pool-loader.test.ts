// The pool loader in Slipway's node-20 and python-3.13 images (helpers/pool-start.sh,
// helpers/pool-loader.*): what a pooled runtime container answers before it has code, that
// only the gateway's token loads it, and only once, that variables arrive byte for byte
// (never evaluated by a shell), and that an idle member retires by itself.
//
//   SLIPWAY_TEST_RUNTIME_TAG=<tag> node --import tsx --test test/runtimes/pool-loader.test.ts
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { request } from "undici";
import { createPoolMember, imageSupportsPool, loadPoolMember, type PoolMember } from "../../src/gateway/runtime-pool.js";
import { startRuntime, stopRuntime, waitForHealth } from "../../src/gateway/runtime-containers.js";
import { buildFunction, docker } from "../support/runtime-harness.js";
import { hostCaBundle } from "./conformance-runtimes.js";

const tag = process.env.SLIPWAY_TEST_RUNTIME_TAG ?? "local";
const runtimes = [
  { name: "node-20", entrypoint: "index.js", source: "module.exports = async (c) => c.res.json({ env: process.env });\n" },
  { name: "python-3.13", entrypoint: "main.py", source: "import os\n\ndef main(context):\n    return context.res.json({'env': dict(os.environ)})\n" },
];
const sandbox = { user: "10001:10001", readOnlyRootfs: true };
const limits = { memoryMb: 256, cpus: 1 };

for (const runtime of runtimes) {
  const image = `slipway/runtime-${runtime.name}:${tag}`;
  describe(`${runtime.name} pool loader`, () => {
    let artifact: Buffer;
    const made: PoolMember[] = [];
    const member = async (idleSeconds = 600) => {
      const created = await createPoolMember(docker, { image, runtime: runtime.name, gatewaySecret: randomBytes(24).toString("hex"), host: "127.0.0.1", ports: null, limits, sandbox, idleSeconds });
      made.push(created);
      return created;
    };
    const state = async (m: PoolMember) => (await docker.getContainer(m.containerId).inspect()).State;

    before(async () => {
      assert.ok(await imageSupportsPool(docker, image), `${image} has no pool loader: rebuild it from runtimes/${runtime.name}`);
      const source = await mkdtemp(join(tmpdir(), "pool-loader-"));
      await writeFile(join(source, runtime.entrypoint), runtime.source);
      const built = await buildFunction(image, source, { entrypoint: runtime.entrypoint, commands: "", caBundlePath: hostCaBundle });
      await rm(source, { recursive: true, force: true });
      assert.equal(built.exitCode, 0, built.logs);
      artifact = built.artifact;
    });

    after(async () => {
      for (const m of made) await docker.getContainer(m.containerId).remove({ force: true, v: true }).catch(() => {});
    });

    test("before it has code it is not healthy, and a wrong token loads nothing", async () => {
      const m = await member();
      const health = await request(`${m.baseUrl}/__opr/health`);
      assert.equal(health.statusCode, 503);
      await health.body.dump();
      const call = await request(`${m.baseUrl}/`, { headers: { "x-open-runtimes-secret": "" } });
      assert.equal(call.statusCode, 503, "no function runs before one is assigned");
      await call.body.dump();
      await assert.rejects(loadPoolMember({ ...m, token: "f".repeat(64) }, ["OPEN_RUNTIMES_SECRET=x"], artifact), /refused the code \(403\)/);
      const waiting = await request(`${m.baseUrl}/__slipway/pool`);
      assert.equal(waiting.statusCode, 200, "it still waits for the right token");
      assert.equal(await waiting.body.text(), "waiting");
    });

    test("variables arrive byte for byte, never evaluated, and the pool token does not reach the function", async () => {
      const m = await member();
      const tricky = {
        DOLLAR: "$(touch /tmp/pwned) `id` ${HOME}",
        QUOTES: `it's "quoted" \\ back`,
        LINES: "one\ntwo\n",
        EQUALS: "a=b=c",
        EMPTY: "",
        UNICODE: "grüße ✓",
        UID: "12345",
      };
      await loadPoolMember(m, ["OPEN_RUNTIMES_SECRET=s3cret", `OPEN_RUNTIMES_ENTRYPOINT=${runtime.entrypoint}`, ...Object.entries(tricky).map(([k, v]) => `${k}=${v}`)], artifact);
      let env: Record<string, string> | null = null;
      for (let attempt = 0; attempt < 600 && !env; attempt++) {
        assert.ok((await state(m)).Running, "the member runs after its load");
        try {
          const response = await request(`${m.baseUrl}/`, { headers: { "x-open-runtimes-secret": "s3cret" } });
          if (response.statusCode === 200) env = ((await response.body.json()) as { env: Record<string, string> }).env;
          else await response.body.dump();
        } catch {
          // the server is not listening yet
        }
        if (!env) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(env, "the function answered");
      for (const [name, value] of Object.entries(tricky)) assert.equal(env[name], value, name);
      assert.equal(env.SLIPWAY_POOL_TOKEN, undefined);
      const wrong = await request(`${m.baseUrl}/`, { headers: { "x-open-runtimes-secret": "wrong" } });
      assert.equal(wrong.statusCode, 500, "the delivered secret is enforced");
      await wrong.body.dump();
      const tmp = await docker.getContainer(m.containerId).exec({ Cmd: ["ls", "-A", "/tmp"], AttachStdout: true });
      const output = await new Promise<string>((resolve) => {
        void tmp.start({}).then((stream) => {
          const chunks: Buffer[] = [];
          stream.on("data", (c: Buffer) => chunks.push(c));
          stream.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        });
      });
      assert.doesNotMatch(output, /pwned/, "no variable was run as a command");
      await assert.rejects(loadPoolMember(m, ["OPEN_RUNTIMES_SECRET=other"], artifact), "a member is loaded once only");
    });

    test("a bad variable name is refused and the member exits rather than serve", async () => {
      const m = await member();
      await assert.rejects(loadPoolMember(m, ["OPEN_RUNTIMES_SECRET=s", "BAD NAME=x"], artifact), /refused the code \(400\)/);
      const exited = await docker.getContainer(m.containerId).wait();
      assert.notEqual(exited.StatusCode, 0);
    });

    test("a member renamed for a deployment but never loaded (its gateway died) is replaced, not adopted", async () => {
      const m = await member();
      const deploymentId = `pool-test-${randomBytes(6).toString("hex")}`;
      await docker.getContainer(m.containerId).rename({ name: `slipway-runtime-${deploymentId}` });
      const started = await startRuntime(docker, {
        deploymentId,
        image,
        entrypoint: runtime.entrypoint,
        artifact: () => Readable.from([artifact]),
        gatewaySecret: "pool-test-gateway-secret-0123456789",
        host: "127.0.0.1",
        ports: null,
        limits,
        sandbox,
        labels: { "slipway.test": "pool-loader" },
      });
      try {
        assert.equal(started.startedAs, "created");
        assert.notEqual(started.containerId, m.containerId);
        await waitForHealth(docker, started, 60_000);
      } finally {
        await stopRuntime(docker, deploymentId);
      }
    });

    test("a member not loaded within its idle time retires by itself", async () => {
      const m = await member(2);
      const exited = await docker.getContainer(m.containerId).wait();
      assert.equal(exited.StatusCode, 0);
      assert.match(Buffer.from(await docker.getContainer(m.containerId).logs({ stdout: true, stderr: true })).toString("utf8"), /this pool member retires/);
    });
  });
}
