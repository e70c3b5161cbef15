// Python-specific tests for runtimes/python-3.13: the virtualenv that the build
// creates and ships in the artifact, `async def main` and `def main`, Python's
// native output channels, the build script's own behaviour and the runtime's
// standard-library HTTP server, and when the log files are created. The
// language-neutral contract is checked for every runtime in conformance.test.ts.
//
//   node --import tsx --test test/runtimes/python-3.13.test.ts
//
// Needs the image slipway/runtime-python-3.13:local (bash scripts/setup.sh) and
// PyPI reachable from build containers.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { buildFunction, docker, startFunction, type BuildResult, type RunningFunction } from "../support/runtime-harness.js";
import { call, header, listArtifact, listArtifactEntries, listLogFiles, logId, readLogs } from "../support/runtime-client.js";
import { conformanceRuntimes, hostCaBundle } from "./conformance-runtimes.js";

const PYTHON = conformanceRuntimes.find((runtime) => runtime.name === "python-3.13");
if (!PYTHON) throw new Error("python-3.13 is missing from conformance-runtimes.ts");
const IMAGE = PYTHON.image;
const FIXTURE = PYTHON.fixture;
const RUNTIME_VENV = "/usr/local/server/src/function/runtime-env";
const SITE_PACKAGES = `${RUNTIME_VENV}/lib/python3.13/site-packages`;

const started: RunningFunction[] = [];
const tempDirs: string[] = [];

async function start(artifact: Buffer, entrypoint: string, env: string[] = []): Promise<RunningFunction> {
  const fn = await startFunction(IMAGE, artifact, { entrypoint, env });
  started.push(fn);
  return fn;
}

/** A throw-away source folder with the given files. */
async function sourceDir(files: Record<string, string>): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "slipway-python-"));
  tempDirs.push(dir);
  for (const [name, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), content);
  }
  return dir;
}

let asyncBuild: BuildResult;
let asyncFn: RunningFunction;
let syncBuild: BuildResult;
let syncFn: RunningFunction;

before(async () => {
  try {
    await docker.getImage(IMAGE).inspect();
  } catch {
    throw new Error(`image ${IMAGE} is missing: run \`bash scripts/setup.sh\` first`);
  }
  asyncBuild = await buildFunction(IMAGE, FIXTURE, {
    entrypoint: "main.py",
    commands: PYTHON.commands,
    caBundlePath: hostCaBundle,
  });
  assert.equal(asyncBuild.exitCode, 0, `build failed:\n${asyncBuild.logs}`);
  asyncFn = await start(asyncBuild.artifact, "main.py");

  // No requirements.txt in the commands: build.sh installs it by itself. The
  // commands show which pip runs and which cache folder it uses.
  syncBuild = await buildFunction(IMAGE, FIXTURE, {
    entrypoint: "sync_main.py",
    commands: "command -v pip\npip cache dir",
    caBundlePath: hostCaBundle,
    env: ["PIP_CACHE_DIR=/mnt/cache/pip"],
  });
  assert.equal(syncBuild.exitCode, 0, `build failed:\n${syncBuild.logs}`);
  syncFn = await start(syncBuild.artifact, "sync_main.py");
});

after(async () => {
  await Promise.allSettled(started.map((fn) => fn.stop()));
  await Promise.allSettled(tempDirs.map((dir) => fs.rm(dir, { recursive: true, force: true })));
});

describe("build (helpers/build.sh)", () => {
  test("the virtualenv with the requirements ships in the artifact, relocated to the function folder", async () => {
    assert.match(asyncBuild.logs, /Successfully installed inflection-0\.5\.1/);
    assert.doesNotMatch(asyncBuild.logs, /Installing requirements\.txt/, "a command naming requirements.txt installs it alone");
    const entries = await listArtifactEntries(asyncBuild.artifact);
    assert.ok(entries.has("runtime-env/pyvenv.cfg"));
    assert.ok(entries.has("runtime-env/lib/python3.13/site-packages/inflection/__init__.py"));
    // The interpreter is a copy, not a link to /usr/bin: Slipway refuses artifacts whose
    // links point outside the function.
    const interpreter = entries.get("runtime-env/bin/python3");
    assert.ok(interpreter && !interpreter.linkname, "runtime-env/bin/python3 is a file in the artifact");
    for (const [name, entry] of entries) assert.ok(!entry.linkname?.startsWith("/"), `${name} links outside the function (${entry.linkname})`);

    // pip is for the build only: it would be most of the artifact's files.
    assert.ok(!entries.has("runtime-env/bin/pip"), "pip's script is left out");
    assert.ok(![...entries.keys()].some((name) => name.startsWith("runtime-env/lib/python3.13/site-packages/pip/")), "pip's package is left out");
    const activate = entries.get("runtime-env/bin/activate")?.content.toString("utf8") ?? "";
    assert.match(activate, new RegExp(`VIRTUAL_ENV=.?${RUNTIME_VENV}`));
    for (const [name, entry] of entries) {
      if (name.startsWith("runtime-env/bin/") && entry.type === "file") {
        assert.ok(!entry.content.includes("/usr/local/build"), `${name} still names the build folder`);
      }
    }
  });

  test("requirements.txt is installed without a build command; pip is the venv's and honours PIP_CACHE_DIR", async () => {
    assert.match(syncBuild.logs, /Installing requirements\.txt\./);
    assert.match(syncBuild.logs, /Successfully installed inflection-0\.5\.1/);
    assert.match(syncBuild.logs, /^\/usr\/local\/build\/runtime-env\/bin\/pip$/m, "pip resolves to the virtualenv");
    assert.match(syncBuild.logs, /^\/mnt\/cache\/pip$/m, "pip cache dir");
    const files = await listArtifact(syncBuild.artifact);
    assert.ok(files.has("runtime-env/lib/python3.13/site-packages/inflection/__init__.py"));
    assert.match(files.get(".open-runtimes")?.toString("utf8") ?? "", /^OPEN_RUNTIMES_ENTRYPOINT=sync_main\.py$/m);
  });

  test("a failing build command fails the build and is named in the logs", async () => {
    const dir = await sourceDir({ "main.py": "def main(context):\n    return context.res.text('hi')\n" });
    const result = await buildFunction(IMAGE, dir, {
      entrypoint: "main.py",
      commands: "echo compiling && python -c 'import sys; sys.exit(7)'",
    });
    assert.equal(result.exitCode, 7);
    assert.match(result.logs, /compiling/);
    assert.match(result.logs, /Build command failed with exit code 7: echo compiling && python -c 'import sys; sys\.exit\(7\)'/);
    assert.equal(result.artifact.length, 0, "no artifact after a failed build");
  });

  test("a requirement that cannot be installed names pip's command", async () => {
    const dir = await sourceDir({
      "main.py": "def main(context):\n    return context.res.text('hi')\n",
      "requirements.txt": "./no-such-local-package\n",
    });
    const result = await buildFunction(IMAGE, dir, { entrypoint: "main.py", commands: "" });
    assert.notEqual(result.exitCode, 0);
    assert.match(result.logs, /Build command failed with exit code \d+: pip install -r requirements\.txt/);
    assert.equal(result.artifact.length, 0);
  });

  test("the first failing line of a multi-line build command stops the build", async () => {
    const dir = await sourceDir({ "main.py": "def main(context):\n    return context.res.text('hi')\n" });
    const result = await buildFunction(IMAGE, dir, { entrypoint: "main.py", commands: "false\necho should-not-run" });
    assert.equal(result.exitCode, 1);
    assert.doesNotMatch(result.logs, /^should-not-run$/m);
    assert.match(result.logs, /Build command failed with exit code 1: false\\necho should-not-run$/m);
  });

  test("an empty source folder is rejected", async () => {
    const empty = await sourceDir({});
    const result = await buildFunction(IMAGE, empty, { entrypoint: "main.py", commands: "" });
    assert.notEqual(result.exitCode, 0);
    assert.match(result.logs, /No source code found/);
  });
});

describe("entrypoints", () => {
  test("async def main runs in the shipped virtualenv, imported as a package", async () => {
    const reply = await call(asyncFn, { headers: { "x-action": "pythonInfo" } });
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.text), {
      coroutine: true,
      version: [3, 13],
      prefix: RUNTIME_VENV,
      module: "function.main",
      virtualEnv: RUNTIME_VENV,
    });
  });

  test("the requirements.txt dependency is importable from the shipped venv (through a relative import)", async () => {
    const reply = await call(asyncFn, { headers: { "x-action": "library" } });
    assert.equal(reply.status, 200);
    const body = JSON.parse(reply.text);
    assert.equal(body.plural, "octopi");
    assert.equal(body.camel, "OpenRuntimes");
    assert.equal(body.file, `${SITE_PACKAGES}/inflection/__init__.py`);
  });

  test("def main runs in a worker thread with the dependency available", async () => {
    const reply = await call(syncFn, { headers: { "x-action": "info" } });
    assert.equal(reply.status, 200);
    const body = JSON.parse(reply.text);
    assert.equal(body.sync, true);
    assert.equal(body.mainThread, false);
    assert.equal(body.library.plural, "people");
    assert.equal(body.library.camel, "SyncMain");
    assert.equal(body.library.file, `${SITE_PACKAGES}/inflection/__init__.py`);

    const logged = await call(syncFn, { headers: { "x-action": "logs" } });
    const { logs } = await readLogs(syncFn, logId(logged));
    assert.match(logs, /^Sync native log$/m, "print() from the worker thread is captured");
    assert.match(logs, /^Sync debug log$/m);

    const failed = await call(syncFn, { headers: { "x-action": "throw" } });
    assert.equal(failed.status, 500);
    assert.match((await readLogs(syncFn, logId(failed))).errors, /RuntimeError: Sync failure!/);
  });

  test("a blocking def main neither stalls other executions nor escapes the timeout", async () => {
    const slowStarted = Date.now();
    const slow = call(syncFn, { headers: { "x-action": "timeout", "x-open-runtimes-timeout": "1" } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const quick = await call(syncFn, { headers: { "x-action": "info" } });
    assert.equal(quick.status, 200);
    assert.ok(Date.now() - slowStarted < 900, "a second execution was served while the first slept");

    const late = await slow;
    const elapsed = Date.now() - slowStarted;
    assert.equal(late.status, 500);
    assert.ok(elapsed < 2_500, `answered after ${elapsed} ms`);
    const { logs, errors } = await readLogs(syncFn, logId(late));
    assert.match(errors, /Execution timed out\./);
    assert.match(logs, /Sync timeout start\./);
    assert.doesNotMatch(logs, /Sync timeout end\./);
  });

  test("an Appwrite-style src/main.py with relative imports and no build command", async () => {
    const dir = await sourceDir({
      "src/main.py":
        "from .utils import greet\n\n\ndef main(context):\n    return context.res.json({'greeting': greet(context.req.query.get('name', '')), 'module': __name__})\n",
      "src/utils.py": "def greet(name):\n    return f'Hello, {name}!'\n",
    });
    const build = await buildFunction(IMAGE, dir, { entrypoint: "src/main.py", commands: "" });
    assert.equal(build.exitCode, 0, build.logs);
    assert.match(build.logs, /No build command given\./);
    const fn = await start(build.artifact, "src/main.py");
    const reply = await call(fn, { method: "GET", path: "/?name=Slipway" });
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.text), { greeting: "Hello, Slipway!", module: "function.src.main" });
    await fn.stop();
  });

  test("a missing entrypoint is a 503, and so is a module without main", async () => {
    const dir = await sourceDir({ "nomain.py": "VALUE = 1\n", "broken.py": "def main(context):\n    return (\n" });

    const missing = await buildFunction(IMAGE, dir, { entrypoint: "does-not-exist.py", commands: "" });
    assert.equal(missing.exitCode, 0, missing.logs);
    assert.match(missing.logs, /entrypoint does-not-exist\.py does not exist/);
    const missingFn = await start(missing.artifact, "does-not-exist.py");
    const reply = await call(missingFn, { headers: { "x-action": "plaintext" } });
    assert.equal(reply.status, 503);
    assert.match((await readLogs(missingFn, logId(reply))).errors, /Failed to load entrypoint, file does-not-exist\.py does not exist\./);
    await missingFn.stop();

    const noMain = await buildFunction(IMAGE, dir, { entrypoint: "nomain.py", commands: "" });
    assert.equal(noMain.exitCode, 0, noMain.logs);
    const noMainFn = await start(noMain.artifact, "nomain.py");
    const noMainReply = await call(noMainFn, {});
    assert.equal(noMainReply.status, 503);
    assert.match((await readLogs(noMainFn, logId(noMainReply))).errors, /Function signature invalid in nomain\.py\. Did you forget to export a 'main' function/);
    await noMainFn.stop();

    const broken = await buildFunction(IMAGE, dir, { entrypoint: "broken.py", commands: "" });
    assert.equal(broken.exitCode, 0, broken.logs);
    const brokenFn = await start(broken.artifact, "broken.py");
    const brokenReply = await call(brokenFn, {});
    assert.equal(brokenReply.status, 503);
    assert.match((await readLogs(brokenFn, logId(brokenReply))).errors, /Syntax error in .*broken\.py:2/);
    await brokenFn.stop();
  });
});

describe("Python specifics", () => {
  test("native output from print, sys.std*, sys.stdout.buffer and logging is captured; values are formatted the Python way", async () => {
    const reply = await call(asyncFn, { headers: { "x-action": "logs" } });
    const { logs } = await readLogs(asyncFn, logId(reply));
    assert.match(logs, /^Native log \{'nativeKey': 'nativeValue'\}$/m);
    assert.match(logs, /^42 4\.2 True$/m);
    assert.match(logs, /^\{"objectKey":"objectValue","when":"2024-01-02","set":\["setvalue1"\],"nothing":null\}$/m);

    const more = await call(asyncFn, { headers: { "x-action": "pythonLogs" } });
    assert.equal(more.status, 200);
    const extra = await readLogs(asyncFn, logId(more));
    assert.match(extra.logs, /^Native logs detected\./m);
    assert.match(extra.logs, /^Warning through logging$/m);
    assert.match(extra.logs, /^Binary stdout write$/m);
    assert.match(extra.logs, /^None False 1\.5$/m);
    assert.match(extra.errors, /^ValueError: Logged exception$/m);
    assert.doesNotMatch(await asyncFn.output(), /Warning through logging|Binary stdout write/);
  });

  test("an exception's traceback names main.py and the line, without the runtime's frames", async () => {
    const reply = await call(asyncFn, { headers: { "x-action": "throw" } });
    assert.equal(reply.status, 500);
    const { errors } = await readLogs(asyncFn, logId(reply));
    assert.match(errors, /^Traceback \(most recent call last\):$/m);
    assert.match(errors, /File "\/usr\/local\/server\/src\/function\/main\.py", line \d+, in main/);
    assert.match(errors, /^Exception: Intentional failure!$/m);
    assert.doesNotMatch(errors, /slipway_runtime/);
  });

  test("a function that returns nothing is a 500 with an explanation in the error log", async () => {
    const reply = await call(asyncFn, { headers: { "x-action": "noReturn" } });
    assert.equal(reply.status, 500);
    assert.equal(reply.text, "");
    const { errors } = await readLogs(asyncFn, logId(reply));
    assert.match(errors, /Return statement missing\. return context\.res\.empty\(\) if no response is expected\./);
  });

  test("sys.exit() in a function is a 500 and the runtime keeps serving", async () => {
    const reply = await call(asyncFn, { headers: { "x-action": "exit" } });
    assert.equal(reply.status, 500);
    assert.match((await readLogs(asyncFn, logId(reply))).errors, /SystemExit: 3/);
    const next = await call(asyncFn, { headers: { "x-action": "plaintext" } });
    assert.equal(next.status, 200);
  });

  test("send (deprecated) serialises a number body", async () => {
    const reply = await call(asyncFn, { headers: { "x-action": "sendNumber" } });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, "50");
    assert.equal(header(reply, "content-type"), "text/plain; charset=utf-8");
  });
});

/** Writes raw bytes to the runtime and collects everything it answers until it closes or `until` matches. */
function rawExchange(url: string, write: (socket: net.Socket, received: () => string) => Promise<void>, until: RegExp): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let data = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer in time; got:\n${data}`));
    }, 10_000);
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(data);
    };
    socket.on("data", (chunk) => {
      data += chunk.toString("latin1");
      if (until.test(data)) finish();
    });
    socket.on("end", finish);
    socket.on("error", reject);
    socket.on("connect", () => {
      write(socket, () => data).catch(reject);
    });
  });
}


describe("log files (created lazily unless the caller names the id)", () => {
  // A function that writes exactly what the request asks for, so each case knows which
  // files to expect.
  const quietOrLogging =
    "def main(context):\n" +
    "    action = context.req.headers.get('x-action')\n" +
    "    if action == 'log':\n" +
    "        context.log('Only the logs file')\n" +
    "    if action == 'print':\n" +
    "        print('Printed natively')\n" +
    "    if action == 'error':\n" +
    "        context.error('Only the errors file')\n" +
    "    return context.res.text('done')\n";
  let artifact: Buffer;
  let fn: RunningFunction;

  before(async () => {
    const build = await buildFunction(IMAGE, await sourceDir({ "main.py": quietOrLogging }), { entrypoint: "main.py", commands: "" });
    assert.equal(build.exitCode, 0, build.logs);
    artifact = build.artifact;
    fn = await start(artifact, "main.py");
  });

  test("no log id given and nothing logged: no log id in the response and no files", async () => {
    const reply = await call(fn, { headers: { "x-action": "quiet" } });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, "done");
    assert.equal(header(reply, "x-open-runtimes-log-id"), undefined);
    assert.deepEqual(await listLogFiles(fn), []);
  });

  test("no log id given and something logged: the id is returned and only the file written to exists", async () => {
    const logged = await call(fn, { headers: { "x-action": "log" } });
    const loggedId = logId(logged);
    assert.match(loggedId, /^[0-9a-f]{20}$/);
    assert.equal((await readLogs(fn, loggedId)).logs, "Only the logs file\n");

    const printed = await call(fn, { headers: { "x-action": "print" } });
    assert.match((await readLogs(fn, logId(printed))).logs, /Native logs detected[\s\S]*Printed natively/);

    const errored = await call(fn, { headers: { "x-action": "error" } });
    assert.equal((await readLogs(fn, logId(errored))).errors, "Only the errors file\n");

    assert.deepEqual(
      await listLogFiles(fn),
      [`${loggedId}_logs.log`, `${logId(printed)}_logs.log`, `${logId(errored)}_errors.log`].sort(),
    );
  });

  test("a log id given by the caller: both files exist from the start, even when nothing is logged", async () => {
    const before = await listLogFiles(fn);
    const reply = await call(fn, { headers: { "x-action": "quiet", "x-open-runtimes-log-id": "namedQuiet" } });
    assert.equal(reply.status, 200);
    assert.equal(header(reply, "x-open-runtimes-log-id"), "namedQuiet");
    assert.deepEqual(await fn.readFile("/mnt/logs/namedQuiet_logs.log"), Buffer.alloc(0));
    assert.deepEqual(await fn.readFile("/mnt/logs/namedQuiet_errors.log"), Buffer.alloc(0));
    assert.deepEqual(await listLogFiles(fn), [...before, "namedQuiet_errors.log", "namedQuiet_logs.log"].sort());
  });

  test("logging disabled: no files, and the log id header is empty as before", async () => {
    const before = await listLogFiles(fn);
    const reply = await call(fn, { headers: { "x-action": "log", "x-open-runtimes-logging": "disabled" } });
    assert.equal(reply.status, 200);
    assert.equal(header(reply, "x-open-runtimes-log-id"), "");
    assert.deepEqual(await listLogFiles(fn), before);
  });

  test("development: the id \"dev\" follows the same rule", async () => {
    const devFn = await start(artifact, "main.py", ["OPEN_RUNTIMES_ENV=development"]);
    const quiet = await call(devFn, { headers: { "x-action": "quiet" } });
    assert.equal(header(quiet, "x-open-runtimes-log-id"), undefined);
    assert.deepEqual(await listLogFiles(devFn), []);

    const logged = await call(devFn, { headers: { "x-action": "log" } });
    assert.equal(logId(logged), "dev");
    assert.deepEqual(await listLogFiles(devFn), ["dev_logs.log"]);
    await devFn.stop();
  });
});

describe("HTTP server", () => {
  test("chunked bodies, Expect: 100-continue and pipelined keep-alive requests", async () => {
    const secret = asyncFn.secret;
    const answer = await rawExchange(
      asyncFn.url,
      async (socket, received) => {
        socket.write(
          "POST /chunked HTTP/1.1\r\nHost: example.test\r\nX-Action: bodyText\r\n" +
            `x-open-runtimes-secret: ${secret}\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n`,
        );
        for (let i = 0; i < 100 && !received().includes("100 Continue"); i++) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        socket.write("5\r\nHello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n");
        socket.write(
          `GET /second HTTP/1.1\r\nHost: example.test\r\nX-Action: plaintext\r\nx-open-runtimes-secret: ${secret}\r\nConnection: close\r\n\r\n`,
        );
      },
      /Hello World 👋|Hello World \xf0\x9f\x91\x8b/,
    );
    assert.match(answer, /^HTTP\/1\.1 100 Continue\r\n\r\n/);
    const responses = answer.split(/(?=HTTP\/1\.1 \d{3} )/).filter((part) => !part.startsWith("HTTP/1.1 100"));
    assert.equal(responses.length, 2, answer);
    assert.match(responses[0] ?? "", /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(responses[0] ?? "", /\r\ncontent-length: 12\r\n/i);
    assert.match(responses[0] ?? "", /\r\n\r\nHello, world$/);
    assert.match(responses[1] ?? "", /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(responses[1] ?? "", /\r\nconnection: close\r\n/i);
  });

  test("a malformed request gets a 400 and the server keeps serving", async () => {
    const answer = await rawExchange(
      asyncFn.url,
      async (socket) => {
        socket.write("THIS IS NOT HTTP\r\n\r\n");
      },
      /\r\n\r\n[\s\S]*$/,
    );
    assert.match(answer, /^HTTP\/1\.1 400 /);
    const next = await call(asyncFn, { headers: { "x-action": "plaintext" } });
    assert.equal(next.status, 200);
  });

  test("docker stop is prompt: SIGTERM reaches the Python server", async () => {
    const stopAt = Date.now();
    await syncFn.container.stop({ t: 10 });
    const elapsed = Date.now() - stopAt;
    const state = (await syncFn.container.inspect()).State;
    assert.equal(state.ExitCode, 0);
    assert.ok(elapsed < 5_000, `docker stop took ${elapsed} ms`);
    assert.match(await syncFn.output(), /SIGTERM received/);
  });
});
