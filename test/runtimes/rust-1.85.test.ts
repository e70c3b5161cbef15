// Tests for runtimes/rust-1.85 that the shared conformance suite
// (test/runtimes/conformance.test.ts, which also runs the rust-contract fixture)
// does not cover: what the build produces, version pins and Cargo.lock, the
// build cache (warm rebuilds, damaged caches), other crate layouts, and the
// runtime's Rust-specific behaviour (abort/exit, worker state, SIGTERM) and
// which log files an execution leaves (a generated log id gets only the files
// written to; a caller's id gets both from the start).
// Builds and runs the image exactly the way Slipway's executor does (Docker
// API, tar archives, no bind mounts; the cache is a Docker volume).
//
//   node --import tsx --test test/runtimes/rust-1.85.test.ts
//
// Needs the image slipway/runtime-rust-1.85:local (bash scripts/setup.sh) and
// crates.io reachable from build containers.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  EXTRA_CA_PATH,
  buildFunction,
  createCacheVolume,
  docker,
  removeCacheVolume,
  runInCacheVolume,
  startFunction,
  type BuildOptions,
  type BuildResult,
  type RunningFunction,
} from "../support/runtime-harness.js";
import {
  call,
  header,
  listArtifactEntries,
  listLogFiles,
  logId,
  readLogs,
  type CallOptions,
  type Reply,
} from "../support/runtime-client.js";

const IMAGE = `slipway/runtime-rust-1.85:${process.env.SLIPWAY_TEST_RUNTIME_TAG ?? "local"}`;
const HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.resolve(here, "../fixtures/functions/rust-contract");
const ENTRYPOINT = "src/lib.rs";
const BINARY = "slipway-rust-server";

let cacheVolume = "";
const tempDirs: string[] = [];
const started: RunningFunction[] = [];

/** Builds a crate the way Slipway's worker does, with this file's cache volume. */
function build(sourceDir: string, options: Partial<BuildOptions> = {}): Promise<BuildResult> {
  return buildFunction(IMAGE, sourceDir, {
    entrypoint: ENTRYPOINT,
    commands: "",
    caBundlePath: existsSync(HOST_CA_BUNDLE) ? HOST_CA_BUNDLE : undefined,
    // The host bundle is complete; the worker passes a combined bundle instead.
    env: [`CARGO_HTTP_CAINFO=${EXTRA_CA_PATH}`],
    cacheVolume,
    memoryBytes: 2 * 1024 * 1024 * 1024,
    timeoutMs: 15 * 60_000,
    ...options,
  });
}

async function start(artifact: Buffer, env: string[] = []): Promise<RunningFunction> {
  const fn = await startFunction(IMAGE, artifact, { entrypoint: ENTRYPOINT, env });
  started.push(fn);
  return fn;
}

/** A copy of the fixture (without target/) that a test may change. */
async function copyFixture(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "slipway-rust-"));
  tempDirs.push(dir);
  await fs.cp(FIXTURE, dir, { recursive: true, filter: (source) => path.basename(source) !== "target" });
  return dir;
}

async function editFile(file: string, edit: (text: string) => string): Promise<void> {
  await fs.writeFile(file, edit(await fs.readFile(file, "utf8")));
}

/** Crates cargo compiled, from "Compiling <name> v<version>" lines. */
function compiled(logs: string): string[] {
  return [...logs.matchAll(/^\s*Compiling (\S+) v/gm)].map((match) => match[1] ?? "").sort();
}


/** One call, and the files it added to /mnt/logs. */
async function callAndListNewLogFiles(running: RunningFunction, options: CallOptions): Promise<{ reply: Reply; added: string[] }> {
  const before = new Set(await listLogFiles(running));
  const reply = await call(running, options);
  return { reply, added: (await listLogFiles(running)).filter((name) => !before.has(name)) };
}

function lockedVersion(lock: string, name: string): string[] {
  return [...lock.matchAll(/\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"/g)]
    .filter((match) => match[1] === name)
    .map((match) => match[2] ?? "");
}

let mainBuild: BuildResult;
let mainBuildMs = 0;
let fn: RunningFunction;

before(async () => {
  try {
    await docker.getImage(IMAGE).inspect();
  } catch {
    throw new Error(`image ${IMAGE} is missing: run \`bash scripts/setup.sh\` first`);
  }
  cacheVolume = await createCacheVolume();
  const startedAt = Date.now();
  mainBuild = await build(FIXTURE);
  mainBuildMs = Date.now() - startedAt;
  assert.equal(mainBuild.exitCode, 0, `build failed:\n${mainBuild.logs}`);
  fn = await start(mainBuild.artifact);
});

after(async () => {
  await Promise.allSettled(started.map((running) => running.stop()));
  await Promise.allSettled(tempDirs.map((dir) => fs.rm(dir, { recursive: true, force: true })));
  if (cacheVolume) await removeCacheVolume(cacheVolume);
});

describe("build (helpers/build.sh)", () => {
  test("the artifact holds the release binary and the crate's files, never target/", async () => {
    assert.match(mainBuild.logs, /Compiling slipway-runtime v/);
    assert.match(mainBuild.logs, /Finished `release` profile/);
    const entries = await listArtifactEntries(mainBuild.artifact);
    const binary = entries.get(BINARY);
    assert.ok(binary, "the artifact has the server binary at its root");
    assert.deepEqual([...binary.content.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], "an ELF executable");
    assert.ok(((binary.mode ?? 0) & 0o111) !== 0, "executable");
    assert.ok(entries.has("src/lib.rs") && entries.has("Cargo.toml"));
    assert.ok(![...entries.keys()].some((name) => name === "target/" || name.startsWith("target/")), "no target/");
    const info = entries.get(".slipway-build/info.txt")?.content.toString("utf8") ?? "";
    assert.match(info, /^rustc=rustc 1\.85\./m);
    assert.match(info, /^package=rust-contract$/m);
  });

  test("a version pinned in Cargo.toml and the crate's Cargo.lock are honoured", async () => {
    // unicode-width is pinned with "=0.1.11" (newer 0.1.x exist); unicode-segmentation
    // is required as "1" but the crate's Cargo.lock locks 1.10.1 (1.13 exists).
    const reply = await call(fn, { headers: { "x-action": "versions" } });
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.text), { unicodeWidth: "15.1.0", unicodeSegmentation: "15.0.0" });

    assert.match(mainBuild.logs, /Using the crate's Cargo\.lock\./);
    const lock = (await listArtifactEntries(mainBuild.artifact)).get(".slipway-build/Cargo.lock")?.content.toString("utf8") ?? "";
    assert.deepEqual(lockedVersion(lock, "unicode-width"), ["0.1.11"]);
    assert.deepEqual(lockedVersion(lock, "unicode-segmentation"), ["1.10.1"]);
    // Everything else the crate's lock pins is kept too.
    const crateLock = await fs.readFile(path.join(FIXTURE, "Cargo.lock"), "utf8");
    for (const name of ["serde_json", "md5", "openruntimes-types-for-rust"]) {
      assert.deepEqual(lockedVersion(lock, name), lockedVersion(crateLock, name), name);
    }
  });

});

describe("build cache (CARGO_HOME and CARGO_TARGET_DIR on a volume)", () => {
  test("a rebuild of unchanged source compiles nothing", async () => {
    const result = await build(FIXTURE);
    assert.equal(result.exitCode, 0, result.logs);
    assert.deepEqual(compiled(result.logs), []);
    assert.match(result.logs, /Source files: 0 new or changed, \d+ unchanged/);
    assert.doesNotMatch(result.logs, /Downloading crates/);
  });

  test("a source-only change recompiles only the crate and the server binary", async (t) => {
    const dir = await copyFixture();
    await editFile(path.join(dir, "src/lib.rs"), (text) => text.replace('"Hello World 👋"', '"Hello again 👋"'));
    // A target/ folder in the source never reaches the artifact.
    await fs.mkdir(path.join(dir, "target/release"), { recursive: true });
    await fs.writeFile(path.join(dir, "target/release/stale"), "stale");

    const startedAt = Date.now();
    const result = await build(dir);
    const warmMs = Date.now() - startedAt;
    assert.equal(result.exitCode, 0, result.logs);
    t.diagnostic(`cold build ${mainBuildMs} ms, warm rebuild ${warmMs} ms`);
    assert.deepEqual(compiled(result.logs), ["rust-contract", "slipway-rust-server"]);
    assert.match(result.logs, /Source files: 1 new or changed/);
    assert.ok(warmMs < mainBuildMs, `warm ${warmMs} ms vs cold ${mainBuildMs} ms`);

    const entries = await listArtifactEntries(result.artifact);
    assert.ok(![...entries.keys()].some((name) => name.startsWith("target")), "no target/");
    const changed = await start(result.artifact);
    const reply = await call(changed, { headers: { "x-action": "plaintext" } });
    assert.equal(reply.text, "Hello again 👋");
  });

  test("an Appwrite-style crate: main.rs entrypoint, no [lib] table, no Cargo.lock", async () => {
    const dir = await copyFixture();
    await fs.rm(path.join(dir, "Cargo.lock"));
    await fs.rename(path.join(dir, "src/lib.rs"), path.join(dir, "main.rs"));
    await editFile(path.join(dir, "Cargo.toml"), (text) =>
      text.replace('name = "rust-contract"', 'name = "handler"').replace(/\[lib\]\nname = "handler"\npath = "src\/lib.rs"\n/, ""),
    );
    const result = await build(dir, { entrypoint: "main.rs" });
    assert.equal(result.exitCode, 0, result.logs);
    assert.match(result.logs, /Library root: main\.rs/);

    const appwrite = await start(result.artifact);
    const hello = await call(appwrite, { headers: { "x-action": "plaintext" } });
    assert.equal(hello.text, "Hello World 👋");
    // Without the lock only the "=" pin holds: unicode-segmentation resolves to a newer 1.x.
    const versions = JSON.parse((await call(appwrite, { headers: { "x-action": "versions" } })).text);
    assert.equal(versions.unicodeWidth, "15.1.0");
    assert.notEqual(versions.unicodeSegmentation, "15.0.0");
  });

  test("a damaged cache is detected, cleared and the build retried once", async () => {
    const damage = await runInCacheVolume(
      IMAGE,
      cacheVolume,
      'n=0; for f in /mnt/cache/target/release/deps/*.rlib /mnt/cache/target/release/deps/*.rmeta; do : >"$f"; n=$((n+1)); done; echo "truncated $n"',
    );
    assert.equal(damage.exitCode, 0, damage.output);
    assert.match(damage.output, /truncated [1-9]\d*/);

    const dir = await copyFixture();
    await editFile(path.join(dir, "src/lib.rs"), (text) => text.replace('"Hello World 👋"', '"Hello after repair 👋"'));
    const result = await build(dir);
    assert.equal(result.exitCode, 0, result.logs);
    assert.match(result.logs, /Build cache looks damaged \([^)]+\): clearing \/mnt\/cache\/target/);
    assert.match(result.logs, /Compiling serde v/, "dependencies were rebuilt");

    const repaired = await start(result.artifact);
    const reply = await call(repaired, { headers: { "x-action": "plaintext" } });
    assert.equal(reply.text, "Hello after repair 👋");
  });
});

describe("build failures", () => {
  test("a failing build command stops the build before compiling", async () => {
    const result = await build(FIXTURE, { commands: "echo preparing && false" });
    assert.equal(result.exitCode, 1);
    assert.match(result.logs, /preparing/);
    assert.match(result.logs, /Build command failed with exit code 1: echo preparing && false/);
    assert.doesNotMatch(result.logs, /Compilation started/);
    assert.equal(result.artifact.length, 0);
  });

  test("a folder without Cargo.toml is rejected", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "slipway-rust-"));
    tempDirs.push(dir);
    await fs.writeFile(path.join(dir, "lib.rs"), "pub fn main() {}\n");
    const result = await build(dir);
    assert.notEqual(result.exitCode, 0);
    assert.match(result.logs, /No Cargo\.toml found/);
  });

  test("a compile error fails the build with cargo's diagnostics and leaves the cache alone", async () => {
    const dir = await copyFixture();
    await editFile(path.join(dir, "src/lib.rs"), (text) => `${text}\nfn broken() -> u32 { "not a number" }\n`);
    const result = await build(dir);
    assert.notEqual(result.exitCode, 0);
    assert.match(result.logs, /error\[E0308\]: mismatched types/);
    assert.match(result.logs, /Compilation failed \(cargo exit code \d+\)\./);
    assert.doesNotMatch(result.logs, /looks damaged/);
    assert.equal(result.artifact.length, 0);
  });
});

describe("runtime (Rust specifics)", () => {
  test("a panic names its location; abort and exit are a 500 with the reason; the server keeps serving", async () => {
    const panicked = await call(fn, { headers: { "x-action": "throw" } });
    assert.equal(panicked.status, 500);
    assert.match((await readLogs(fn, logId(panicked))).errors, /^panicked at src\/function\/src\/lib\.rs:\d+:\d+:\nIntentional failure!$/m);

    const aborted = await call(fn, { headers: { "x-action": "abort" } });
    assert.equal(aborted.status, 500);
    assert.equal(aborted.text, "");
    const abortLogs = await readLogs(fn, logId(aborted));
    assert.match(abortLogs.errors, /killed by signal 6 \(SIGABRT\)/);
    assert.match(abortLogs.logs, /^About to abort\.$/m, "output before the crash is kept");

    const exited = await call(fn, { headers: { "x-action": "exit" } });
    assert.equal(exited.status, 500);
    assert.match((await readLogs(fn, logId(exited))).errors, /exited with code 3/);

    const next = await call(fn, { headers: { "x-action": "plaintext" } });
    assert.equal(next.status, 200);
    assert.doesNotMatch(await fn.output(), /Intentional failure|About to abort/);
  });

  test("static state survives between executions served by the same worker", async () => {
    const first = Number((await call(fn, { headers: { "x-action": "calls" } })).text);
    const second = Number((await call(fn, { headers: { "x-action": "calls" } })).text);
    assert.equal(second, first + 1);
  });

  test("a header value with line breaks becomes several header lines (set-cookie)", async () => {
    const reply = await call(fn, { headers: { "x-action": "setCookie" } });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.headers["set-cookie"], ["cookie=value; path=/", "cookie2=value2; path=/"]);
    assert.equal(header(reply, "some-header"), "some-value");
  });

  test("docker stop is prompt and clean: SIGTERM reaches the server", async () => {
    const stopping = await start(mainBuild.artifact);
    assert.equal((await call(stopping, { headers: { "x-action": "plaintext" } })).status, 200);
    const stopAt = Date.now();
    await stopping.container.stop({ t: 10 });
    const elapsed = Date.now() - stopAt;
    const state = (await stopping.container.inspect()).State;
    assert.equal(state.ExitCode, 0);
    assert.ok(elapsed < 5_000, `docker stop took ${elapsed} ms`);
    assert.match(await stopping.output(), /SIGTERM received/);
  });
});

describe("log files: a generated log id gets only the files written to, a caller's id both", () => {
  test("no log id given and nothing logged: no files and no x-open-runtimes-log-id", async () => {
    for (const action of ["plaintext", "empty", "json"]) {
      const { reply, added } = await callAndListNewLogFiles(fn, { headers: { "x-action": action } });
      assert.ok(reply.status < 300, `${action}: ${reply.status}`);
      assert.equal(header(reply, "x-open-runtimes-log-id"), undefined, action);
      assert.deepEqual(added, [], action);
    }

    // The same in development, where the generated id is always "dev".
    const development = await start(mainBuild.artifact, ["OPEN_RUNTIMES_ENV=development"]);
    const quiet = await call(development, { headers: { "x-action": "plaintext" } });
    assert.equal(header(quiet, "x-open-runtimes-log-id"), undefined);
    assert.deepEqual(await listLogFiles(development), []);
    const loud = await call(development, { headers: { "x-action": "taggedLogs" }, body: "dev" });
    assert.equal(logId(loud), "dev");
    assert.deepEqual(await listLogFiles(development), ["dev_logs.log"]);
  });

  test("no log id given and something logged: the id is returned, only the written files exist", async () => {
    const { reply: native, added } = await callAndListNewLogFiles(fn, { headers: { "x-action": "taggedLogs" }, body: "loudly" });
    assert.equal(native.status, 200);
    const id = logId(native);
    assert.notEqual(id, "dev");
    assert.deepEqual(added, [`${id}_logs.log`], "no errors file: nothing went to it");
    const { logs, errors } = await readLogs(fn, id);
    assert.match(logs, /^first loudly\nsecond loudly$/m);
    assert.equal(errors, "");

    // context.log plus a panic: both files.
    const thrown = await call(fn, { headers: { "x-action": "throw" } });
    const thrownLogs = await readLogs(fn, logId(thrown));
    assert.match(thrownLogs.logs, /^Before error\.\.\.$/m);
    assert.match(thrownLogs.errors, /Intentional failure!/);
  });

  test("a log id given and nothing logged: the id is returned and both files exist, empty", async () => {
    const reply = await call(fn, { headers: { "x-action": "plaintext", "x-open-runtimes-log-id": "namedQuiet" } });
    assert.equal(reply.status, 200);
    assert.equal(header(reply, "x-open-runtimes-log-id"), "namedQuiet");
    const [logs, errors] = await Promise.all([
      fn.readFile("/mnt/logs/namedQuiet_logs.log"),
      fn.readFile("/mnt/logs/namedQuiet_errors.log"),
    ]);
    assert.ok(logs && errors, "both files exist");
    assert.equal(logs.length, 0);
    assert.equal(errors.length, 0);
  });

  test("a log id given: both files exist while the execution is still running", async () => {
    // "timeout" sleeps 3 s; its context.log lines are written only at the end.
    const pending = call(fn, { headers: { "x-action": "timeout", "x-open-runtimes-log-id": "namedEarly" } });
    let settled = false;
    void pending.then(() => (settled = true), () => (settled = true));
    let during: (Buffer | null)[] = [null, null];
    for (let attempt = 0; attempt < 20 && !(during[0] && during[1]); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      during = await Promise.all([fn.readFile("/mnt/logs/namedEarly_logs.log"), fn.readFile("/mnt/logs/namedEarly_errors.log")]);
    }
    assert.ok(during[0] && during[1], "both files exist before the answer");
    assert.equal(settled, false, "the execution was still running");
    assert.equal(during[0].length, 0);

    const reply = await pending;
    assert.equal(reply.text, "Successful response.");
    assert.equal(header(reply, "x-open-runtimes-log-id"), "namedEarly");
    assert.match((await readLogs(fn, "namedEarly")).logs, /^Timeout start\.\nTimeout end\.$/m);
  });
});
