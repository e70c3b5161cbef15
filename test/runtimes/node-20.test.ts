// Node-specific tests for runtimes/node-20: npm dependencies, CommonJS and ESM
// entrypoints, JavaScript value formatting in logs, and the build script's own
// behaviour. The language-neutral contract (responses, requests, logging,
// secret, timeout, body limit, exceptions) is checked for every runtime in
// conformance.test.ts.
//
//   node --import tsx --test test/runtimes/node-20.test.ts
//
// Needs the image slipway/runtime-node-20:local (bash scripts/setup.sh) and
// the npm registry reachable from build containers.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildFunction, docker, startFunction, type BuildResult, type RunningFunction } from "../support/runtime-harness.js";
import { call, header, listArtifact, listLogFiles, logId, readLogs } from "../support/runtime-client.js";
import { conformanceRuntimes, hostCaBundle } from "./conformance-runtimes.js";

const NODE = conformanceRuntimes.find((runtime) => runtime.name === "node-20");
if (!NODE) throw new Error("node-20 is missing from conformance-runtimes.ts");
const IMAGE = NODE.image;
const FIXTURE = NODE.fixture;

const started: RunningFunction[] = [];
async function start(artifact: Buffer, entrypoint: string, env: string[] = []): Promise<RunningFunction> {
  const fn = await startFunction(IMAGE, artifact, { entrypoint, env });
  started.push(fn);
  return fn;
}

let cjsBuild: BuildResult;
let cjs: RunningFunction;
const tempDirs: string[] = [];

before(async () => {
  try {
    await docker.getImage(IMAGE).inspect();
  } catch {
    throw new Error(`image ${IMAGE} is missing: run \`bash scripts/setup.sh\` first`);
  }
  cjsBuild = await buildFunction(IMAGE, FIXTURE, {
    entrypoint: "index.js",
    commands: "npm install --no-audit --no-fund",
    caBundlePath: hostCaBundle,
  });
  assert.equal(cjsBuild.exitCode, 0, `build failed:\n${cjsBuild.logs}`);
  cjs = await start(cjsBuild.artifact, "index.js");
});

after(async () => {
  await Promise.allSettled(started.map((fn) => fn.stop()));
  await Promise.allSettled(tempDirs.map((dir) => fs.rm(dir, { recursive: true, force: true })));
});

describe("build (helpers/build.sh)", () => {
  test("npm install runs inside the build and node_modules ships in the artifact", async () => {
    assert.match(cjsBuild.logs, /added 1 package/);
    const files = await listArtifact(cjsBuild.artifact);
    assert.ok(files.has("index.js"));
    assert.ok(files.has("esm/main.js"));
    assert.ok(files.has("node_modules/ms/package.json"), "npm install ran inside the build (CA bundle worked)");
  });

  test("a failing build command fails the build and is named in the logs", async () => {
    const result = await buildFunction(IMAGE, FIXTURE, {
      entrypoint: "index.js",
      commands: "echo compiling && node -e 'process.exit(7)'",
    });
    assert.equal(result.exitCode, 7);
    assert.match(result.logs, /compiling/);
    assert.match(result.logs, /Build command failed with exit code 7: echo compiling && node -e 'process\.exit\(7\)'/);
    assert.equal(result.artifact.length, 0, "no artifact after a failed build");
  });

  test("the first failing line of a multi-line build command stops the build", async () => {
    const result = await buildFunction(IMAGE, FIXTURE, {
      entrypoint: "index.js",
      commands: "false\necho should-not-run",
    });
    assert.equal(result.exitCode, 1);
    assert.doesNotMatch(result.logs, /^should-not-run$/m);
    assert.match(result.logs, /Build command failed with exit code 1: false\\necho should-not-run$/m);
  });

  test("an empty source folder is rejected", async () => {
    const empty = await fs.mkdtemp(path.join(os.tmpdir(), "slipway-empty-"));
    tempDirs.push(empty);
    const result = await buildFunction(IMAGE, empty, { entrypoint: "index.js", commands: "" });
    assert.notEqual(result.exitCode, 0);
    assert.match(result.logs, /No source code found/);
  });
});

describe("JavaScript specifics", () => {
  test("the npm dependency installed during the build is usable", async () => {
    const reply = await call(cjs, { headers: { "x-action": "library" } });
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.text), { twoDays: 172_800_000, oneMinute: "1m" });
  });

  test("send (deprecated) serialises a number body", async () => {
    const number = await call(cjs, { headers: { "x-action": "sendNumber" } });
    assert.equal(number.status, 200);
    assert.equal(number.text, "50");
  });

  test("a handler that returns nothing is a 500 with an explanation in the error log", async () => {
    const reply = await call(cjs, { headers: { "x-action": "noReturn" } });
    assert.equal(reply.status, 500);
    assert.equal(reply.text, "");
    const { errors } = await readLogs(cjs, logId(reply));
    assert.match(errors, /Return statement missing\. return context\.res\.empty\(\) if no response is expected\./);
  });

  test("log files: made only when written to, unless the caller names the log id", async () => {
    const before = new Set(await listLogFiles(cjs));
    const quiet = await call(cjs, { headers: { "x-action": "plaintext" } });
    assert.equal(quiet.status, 200);
    assert.equal(header(quiet, "x-open-runtimes-log-id"), undefined, "a quiet execution returns no log id");
    const after = await listLogFiles(cjs);
    assert.deepEqual(after.filter((name) => !before.has(name)), [], "and leaves no files");
    const errorsOnly = await call(cjs, { headers: { "x-action": "noReturn" } });
    const errorsId = logId(errorsOnly);
    assert.equal(await cjs.readFile(`/mnt/logs/${errorsId}_logs.log`), null, "only the file written to exists");
    assert.ok(await cjs.readFile(`/mnt/logs/${errorsId}_errors.log`));
    const named = await call(cjs, { headers: { "x-action": "plaintext", "x-open-runtimes-log-id": "namedQuiet" } });
    assert.equal(header(named, "x-open-runtimes-log-id"), "namedQuiet");
    assert.equal((await cjs.readFile("/mnt/logs/namedQuiet_logs.log"))?.length, 0, "a named id gets both files, even empty");
    assert.equal((await cjs.readFile("/mnt/logs/namedQuiet_errors.log"))?.length, 0);
  });

  test("context.log and console.log format JavaScript values", async () => {
    const reply = await call(cjs, { headers: { "x-action": "logs" } });
    const { logs } = await readLogs(cjs, logId(reply));
    assert.match(logs, /^Native log \{"nativeKey":"nativeValue"\}$/m);
    assert.match(logs, /^42 4\.2 true$/m);
    assert.match(logs, /"big":"9223372036854775807"/);
    assert.match(logs, /"set":\["setvalue1","setvalue2"\]/);
    assert.match(logs, /"url":"https:\/\/appwrite\.io\/my-awesome-path"/);
  });

  test("a thrown Error's stack names the entrypoint file and line", async () => {
    const reply = await call(cjs, { headers: { "x-action": "throw" } });
    assert.equal(reply.status, 500);
    const { errors } = await readLogs(cjs, logId(reply));
    assert.match(errors, /Error: Intentional failure!/);
    assert.match(errors, /index\.js:\d+/, "stack names the entrypoint");
  });

  test("a missing entrypoint file is a 503 with the reason in the error log", async () => {
    const build = await buildFunction(IMAGE, FIXTURE, { entrypoint: "does-not-exist.js", commands: "" });
    assert.equal(build.exitCode, 0, build.logs);
    assert.match(build.logs, /entrypoint does-not-exist\.js does not exist/);
    const fn = await start(build.artifact, "does-not-exist.js");
    const reply = await call(fn, { headers: { "x-action": "plaintext" } });
    assert.equal(reply.status, 503);
    const { errors } = await readLogs(fn, logId(reply));
    assert.match(errors, /Failed to load entrypoint, file does-not-exist\.js does not exist\./);
  });
});

describe("module formats", () => {
  test("CommonJS entrypoint (module.exports)", async () => {
    const reply = await call(cjs, { headers: { "x-action": "plaintext" } });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, "Hello World 👋");
  });

  test("ESM entrypoint (export default) importing an npm dependency; docker stop is prompt", async () => {
    const build = await buildFunction(IMAGE, FIXTURE, {
      entrypoint: "esm/main.js",
      commands: "npm install --no-audit --no-fund",
      caBundlePath: hostCaBundle,
    });
    assert.equal(build.exitCode, 0, build.logs);
    const esm = await start(build.artifact, "esm/main.js");

    const reply = await call(esm, { path: "/esm?x=1" });
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.text), { module: "esm", hasRequire: false, oneHour: 3_600_000, path: "/esm" });
    assert.match((await readLogs(esm, logId(reply))).logs, /esm handler called/);

    // start.sh and server.sh exec down to node, so SIGTERM reaches the server.
    const stopAt = Date.now();
    await esm.container.stop({ t: 10 });
    const stopElapsed = Date.now() - stopAt;
    const state = (await esm.container.inspect()).State;
    assert.equal(state.ExitCode, 0);
    assert.ok(stopElapsed < 5_000, `docker stop took ${stopElapsed} ms`);
    assert.match(await esm.output(), /SIGTERM received/);
  });
});
