// Contract test for runtimes/node-20: builds and starts the image exactly the
// way Slipway's executor does (Docker API, tar archives, no bind mounts) and
// checks the open-runtimes v5 behaviour over loopback HTTP.
//
//   node --import tsx --test test/runtimes/node-20.test.ts
//
// Needs the image slipway/runtime-node-20:local (bash scripts/setup.sh) and
// the npm registry reachable from build containers.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import tar from "tar-stream";
import { request, type Dispatcher } from "undici";
import { buildFunction, docker, startFunction, type BuildResult, type RunningFunction } from "../support/runtime-harness.js";

const IMAGE = "slipway/runtime-node-20:local";
const HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.resolve(here, "../fixtures/functions/node-contract");

const MB = 1024 * 1024;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

interface CallOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send the runtime's secret (default true). */
  authenticate?: boolean;
}

async function call(fn: RunningFunction, options: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { "content-type": "text/plain", ...(options.headers ?? {}) };
  if (options.authenticate !== false) headers["x-open-runtimes-secret"] = fn.secret;
  const response = await request(`${fn.url}${options.path ?? "/"}`, {
    method: (options.method ?? "POST") as Dispatcher.HttpMethod,
    headers,
    body: options.body,
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
  });
  const body = Buffer.from(await response.body.arrayBuffer());
  return {
    status: response.statusCode,
    headers: response.headers as Record<string, string | string[] | undefined>,
    body,
    text: body.toString("utf8"),
  };
}

function header(reply: Reply, name: string): string | undefined {
  const value = reply.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

function logId(reply: Reply): string {
  const id = header(reply, "x-open-runtimes-log-id");
  assert.ok(id, "response carries x-open-runtimes-log-id");
  return id;
}

async function readLogs(fn: RunningFunction, id: string): Promise<{ logs: string; errors: string }> {
  const [logs, errors] = await Promise.all([
    fn.readFile(`/mnt/logs/${id}_logs.log`),
    fn.readFile(`/mnt/logs/${id}_errors.log`),
  ]);
  return { logs: logs?.toString("utf8") ?? "", errors: errors?.toString("utf8") ?? "" };
}

async function listArtifact(artifact: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (entryHeader, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: unknown) => chunks.push(chunk as Buffer));
      stream.on("end", () => {
        files.set(entryHeader.name.replace(/^\.\//, ""), Buffer.concat(chunks));
        next();
      });
      stream.on("error", reject);
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
  });
  extract.end(gunzipSync(artifact));
  await done;
  return files;
}

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
    caBundlePath: HOST_CA_BUNDLE,
  });
  assert.equal(cjsBuild.exitCode, 0, `build failed:\n${cjsBuild.logs}`);
  cjs = await start(cjsBuild.artifact, "index.js", ["CUSTOM_ENV_VAR=customValue"]);
});

after(async () => {
  await Promise.allSettled(started.map((fn) => fn.stop()));
  await Promise.allSettled(tempDirs.map((dir) => fs.rm(dir, { recursive: true, force: true })));
});

describe("build (helpers/build.sh)", () => {
  test("packs the built folder, installed dependencies and metadata into a gzip artifact", async () => {
    assert.match(cjsBuild.logs, /Build command execution started: npm install/);
    assert.match(cjsBuild.logs, /added 1 package/);
    assert.match(cjsBuild.logs, /Build finished\./);
    assert.deepEqual([...cjsBuild.artifact.subarray(0, 2)], [0x1f, 0x8b], "artifact is gzip");

    const files = await listArtifact(cjsBuild.artifact);
    assert.ok(files.has("index.js"));
    assert.ok(files.has("esm/main.js"));
    assert.ok(files.has("node_modules/ms/package.json"), "npm install ran inside the build (CA bundle worked)");
    assert.equal(files.get(".config/.file")?.toString("utf8"), "HIDDEN_FILE\n", "dotfiles are packed");
    const metadata = files.get(".open-runtimes")?.toString("utf8") ?? "";
    assert.match(metadata, /^OPEN_RUNTIMES_ENTRYPOINT=index\.js$/m);
    assert.ok(![...files.keys()].some((name) => name.endsWith("code.tar.gz")), "artifact does not contain itself");
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

describe("start (helpers/start.sh)", () => {
  test("server announces itself and answers health checks without the secret", async () => {
    assert.match(await cjs.output(), /HTTP server successfully started/);
    const reply = await call(cjs, { method: "GET", path: "/__opr/health", authenticate: false });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, "OK");
  });

  test("start-up timings are recorded", async () => {
    const reply = await call(cjs, { method: "GET", path: "/__opr/timings", authenticate: false });
    assert.equal(reply.status, 200);
    assert.match(reply.text, /^extract=\d+\.\d+$/m);
    assert.match(reply.text, /^startup=\d+\.\d+$/m);
  });
});

describe("security headers", () => {
  test("a missing or wrong secret is refused", async () => {
    for (const headers of [{}, { "x-open-runtimes-secret": "wrong-secret" }] as Record<string, string>[]) {
      const reply = await call(cjs, { headers: { "x-action": "plaintext", ...headers }, authenticate: false });
      assert.equal(reply.status, 500);
      assert.equal(reply.text, 'Unauthorized. Provide correct "x-open-runtimes-secret" header.');
    }
    const ok = await call(cjs, { headers: { "x-action": "plaintext" } });
    assert.equal(ok.status, 200);
  });

  test("an invalid timeout header is refused", async () => {
    for (const value of ["abcd", "0", "-1", "1.5"]) {
      const reply = await call(cjs, { headers: { "x-action": "plaintext", "x-open-runtimes-timeout": value } });
      assert.equal(reply.status, 500, `timeout ${value}`);
      assert.equal(reply.text, 'Header "x-open-runtimes-timeout" must be an integer greater than 0.');
    }
  });
});

describe("responses", () => {
  test("text", async () => {
    const reply = await call(cjs, { headers: { "x-action": "plaintext" } });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, "Hello World 👋");
    assert.equal(header(reply, "content-type"), "text/plain; charset=utf-8");
  });

  test("json with status and headers", async () => {
    const reply = await call(cjs, { headers: { "x-action": "json" } });
    assert.equal(reply.status, 201);
    assert.equal(header(reply, "content-type"), "application/json; charset=utf-8");
    assert.equal(header(reply, "x-json"), "yes");
    assert.deepEqual(JSON.parse(reply.text), { json: true, message: "Developers are awesome." });
  });

  test("custom status, lower-cased headers, x-open-runtimes-* response headers dropped", async () => {
    const reply = await call(cjs, { headers: { "x-action": "status" } });
    assert.equal(reply.status, 404);
    assert.equal(reply.text, "FAIL");
    assert.equal(header(reply, "x-custom-out"), "out-value");
    assert.equal(header(reply, "x-open-runtimes-custom-out"), undefined);
  });

  test("binary", async () => {
    const reply = await call(cjs, { headers: { "x-action": "binary" } });
    assert.equal(reply.status, 200);
    assert.deepEqual([...reply.body], [0, 10, 255]);
    assert.equal(header(reply, "content-type"), "application/octet-stream; charset=utf-8");
  });

  test("redirect", async () => {
    const permanent = await call(cjs, { headers: { "x-action": "redirect" } });
    assert.equal(permanent.status, 301);
    assert.equal(header(permanent, "location"), "https://example.com/next");
    assert.equal(permanent.text, "");

    const temporary = await call(cjs, { headers: { "x-action": "redirectTemporary" } });
    assert.equal(temporary.status, 307);
    assert.equal(header(temporary, "location"), "/elsewhere");
    assert.equal(header(temporary, "x-why"), "moved");
  });

  test("empty", async () => {
    const reply = await call(cjs, { headers: { "x-action": "empty" } });
    assert.equal(reply.status, 204);
    assert.equal(reply.body.length, 0);
  });

  test("send (deprecated) with status, headers and non-string bodies", async () => {
    const reply = await call(cjs, { headers: { "x-action": "send" }, body: "Hello" });
    assert.equal(reply.status, 202);
    assert.equal(reply.text, "Hello");
    assert.equal(header(reply, "x-sent"), "1");

    const number = await call(cjs, { headers: { "x-action": "sendNumber" } });
    assert.equal(number.status, 200);
    assert.equal(number.text, "50");
  });

  test("content-type charset handling", async () => {
    const custom = await call(cjs, { headers: { "x-action": "customCharset" } });
    assert.equal(header(custom, "content-type"), "text/plain; charset=iso-8859-1");
    const upper = await call(cjs, { headers: { "x-action": "uppercaseContentType" } });
    assert.equal(header(upper, "content-type"), "text/plain; charset=utf-8");
    const multipart = await call(cjs, { headers: { "x-action": "multipart" } });
    assert.equal(header(multipart, "content-type"), "multipart/form-data; boundary=12345");
  });

  test("only the returned response counts", async () => {
    const reply = await call(cjs, { headers: { "x-action": "doubleResponse" } });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, "This should be returned.");
  });

  test("a handler that returns nothing is a 500 with an explanation in the error log", async () => {
    const reply = await call(cjs, { headers: { "x-action": "noReturn" } });
    assert.equal(reply.status, 500);
    assert.equal(reply.text, "");
    const { errors } = await readLogs(cjs, logId(reply));
    assert.match(errors, /Return statement missing\. return context\.res\.empty\(\) if no response is expected\./);
  });
});

describe("requests", () => {
  test("method, url, path, query parsing, scheme, host and port", async () => {
    for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE"]) {
      const reply = await call(cjs, { method, headers: { "x-action": "request" } });
      assert.equal(reply.status, 200);
      assert.equal(JSON.parse(reply.text).method, method);
    }

    const plain = JSON.parse((await call(cjs, { path: "/", headers: { "x-action": "request" } })).text);
    assert.equal(plain.path, "/");
    assert.deepEqual(plain.query, {});
    assert.equal(plain.queryString, "");
    assert.equal(plain.scheme, "http");
    assert.equal(plain.host, "127.0.0.1");

    const forwarded = JSON.parse(
      (
        await call(cjs, {
          path: "/a/b?c=d&e=f",
          headers: { "x-action": "request", "x-forwarded-proto": "https", host: "www.mydomain.com:3001" },
        })
      ).text,
    );
    assert.deepEqual(forwarded, {
      method: "POST",
      url: "https://www.mydomain.com:3001/a/b?c=d&e=f",
      scheme: "https",
      host: "www.mydomain.com",
      port: 3001,
      path: "/a/b",
      query: { c: "d", e: "f" },
      queryString: "c=d&e=f",
    });

    const tricky = JSON.parse(
      (await call(cjs, { path: "/?a=b&c==d&e=f=g=&h&i=j&&k", headers: { "x-action": "request" } })).text,
    );
    assert.deepEqual(tricky.query, { a: "b", c: "=d", e: "f=g=", h: "", i: "j", k: "" });

    const defaultPort = JSON.parse(
      (await call(cjs, { headers: { "x-action": "request", host: "myapp.com", "x-forwarded-proto": "https" } })).text,
    );
    assert.equal(defaultPort.port, 443);
    assert.equal(defaultPort.url, "https://myapp.com/");
  });

  test("x-open-runtimes-* request headers are hidden and header names are lower-cased", async () => {
    const reply = await call(cjs, {
      headers: {
        "x-action": "headers",
        "X-UpPeRcAsE-KeY": "value",
        "x-open-runtimes-custom-header": "should-be-hidden",
        "X-Open-Runtimes-Other": "hidden-too",
      },
    });
    assert.equal(reply.status, 200);
    const headers = JSON.parse(reply.text) as Record<string, string>;
    assert.equal(headers["x-action"], "headers");
    assert.equal(headers["x-uppercase-key"], "value");
    assert.equal(headers["X-UpPeRcAsE-KeY"], undefined);
    for (const name of Object.keys(headers)) {
      assert.equal(name, name.toLowerCase());
      assert.ok(!name.startsWith("x-open-runtimes-"), `${name} leaked to the function`);
    }
  });

  test("bodyText, bodyRaw, bodyBinary and content-type driven body", async () => {
    const text = await call(cjs, { headers: { "x-action": "bodyText" }, body: "Hello 👋" });
    assert.equal(text.text, "Hello 👋");
    const raw = await call(cjs, { headers: { "x-action": "bodyRaw" }, body: '{"raw":true}' });
    assert.equal(raw.text, '{"raw":true}');

    const bytes = Buffer.from("0123456789abcdef00ff", "hex");
    const binary = await call(cjs, {
      headers: { "x-action": "bodyBinary", "content-type": "application/octet-stream" },
      body: bytes,
    });
    assert.deepEqual(binary.body, bytes);

    const asJson = await call(cjs, {
      headers: { "x-action": "bodyAuto", "content-type": "ApPlIcAtIoN/JSON" },
      body: '{"key1":"OK 👋","key2":true,"key3":3}',
    });
    assert.deepEqual(JSON.parse(asJson.text), { type: "object", body: { key1: "OK 👋", key2: true, key3: 3 } });

    const emptyJson = await call(cjs, { headers: { "x-action": "bodyAuto", "content-type": "application/json" } });
    assert.deepEqual(JSON.parse(emptyJson.text), { type: "object", body: {} });

    const asText = await call(cjs, { headers: { "x-action": "bodyAuto", "content-type": "text/plain" }, body: '{"a":1}' });
    assert.deepEqual(JSON.parse(asText.text), { type: "string", body: '{"a":1}' });

    const explicitJson = await call(cjs, { headers: { "x-action": "bodyJson" }, body: '{"hello":"world"}' });
    assert.deepEqual(JSON.parse(explicitJson.text), { hello: "world" });
  });

  test("an invalid JSON body is a 500 with a JSON error in the error log", async () => {
    const reply = await call(cjs, {
      headers: { "x-action": "bodyJson", "content-type": "application/json" },
      body: '{"invalidJson:true}',
    });
    assert.equal(reply.status, 500);
    assert.equal(reply.text, "");
    const { errors } = await readLogs(cjs, logId(reply));
    assert.match(errors.toLowerCase(), /json/);
    assert.match(errors, /SyntaxError/);
  });

  test("bodies up to 20 MB are accepted, larger ones refused", async () => {
    const fits = randomBytes(20 * MB - 1024);
    const ok = await call(cjs, {
      method: "PUT",
      headers: { "x-action": "bodyHash", "content-type": "application/octet-stream" },
      body: fits,
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.text, createHash("md5").update(fits).digest("hex"));
    assert.equal(header(ok, "x-size"), String(fits.length));

    const tooBig = await call(cjs, {
      method: "POST",
      headers: { "x-action": "bodyHash", "content-type": "application/octet-stream" },
      body: Buffer.alloc(20 * MB + 1, 7),
    });
    assert.equal(tooBig.status, 500);
    assert.equal(tooBig.text, "");
    const { errors } = await readLogs(cjs, logId(tooBig));
    assert.match(errors, /larger than the 20 MB limit/);

    // The connection and server stay usable afterwards.
    const after = await call(cjs, { headers: { "x-action": "plaintext" } });
    assert.equal(after.status, 200);
  });

  test("environment variables and hidden files reach the function", async () => {
    const env = JSON.parse((await call(cjs, { headers: { "x-action": "env" } })).text);
    assert.deepEqual(env, { custom: "customValue", entrypoint: "index.js" });
    const hidden = await call(cjs, { headers: { "x-action": "hiddenFile" } });
    assert.equal(hidden.text, "HIDDEN_FILE");
  });

  test("the npm dependency installed during the build is usable", async () => {
    const reply = await call(cjs, { headers: { "x-action": "library" } });
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.text), { twoDays: 172_800_000, oneMinute: "1m" });
  });
});

describe("logging", () => {
  test("context.log/error and native output land in the execution's log files", async () => {
    const reply = await call(cjs, { headers: { "x-action": "logs" } });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, "");
    const id = logId(reply);
    assert.equal(id.length, 20);
    assert.match(id, /^[0-9a-f]{20}$/);

    const { logs, errors } = await readLogs(cjs, id);
    // native output
    assert.match(logs, /Native logs detected\. Use context\.log\(\) or context\.error\(\) for better experience\./);
    assert.match(logs, /^Native log \{"nativeKey":"nativeValue"\}$/m);
    assert.match(logs, /^Native error$/m);
    assert.match(logs, /^Raw stdout write$/m);
    assert.match(logs, /^Raw stderr write$/m);
    // context.log
    assert.match(logs, /^Debug log$/m);
    assert.match(logs, /^42 4\.2 true$/m);
    assert.match(logs, /"objectKey":"objectValue"/);
    assert.match(logs, /"big":"9223372036854775807"/);
    assert.match(logs, /"set":\["setvalue1","setvalue2"\]/);
    assert.match(logs, /"url":"https:\/\/appwrite\.io\/my-awesome-path"/);
    assert.match(logs, /^\["arrayValue"\]$/m);
    assert.match(logs, /^engine: open-runtimes$/m);
    assert.match(logs, /^A{8000}\.\.\. Log truncated due to size limit \(8000 characters\)$/m);
    // context.error
    assert.match(errors, /^Error log$/m);
    assert.match(errors, /^B{8000}\.\.\. Log truncated due to size limit \(8000 characters\)$/m);
    assert.doesNotMatch(errors, /Debug log/);

    // Native output of the execution did not reach the container's stdout.
    assert.doesNotMatch(await cjs.output(), /Raw stdout write|Native log/);
  });

  test("log ids are unique, can be chosen, and logging can be disabled", async () => {
    const first = logId(await call(cjs, { headers: { "x-action": "plaintext" } }));
    const second = logId(await call(cjs, { headers: { "x-action": "plaintext" } }));
    assert.notEqual(first, second);

    const custom = await call(cjs, {
      headers: { "x-action": "logs", "x-open-runtimes-log-id": "customLogs", "x-open-runtimes-logging": "enabled" },
    });
    assert.equal(header(custom, "x-open-runtimes-log-id"), "customLogs");
    const customLogs = await readLogs(cjs, "customLogs");
    assert.match(customLogs.logs, /Debug log/);
    assert.match(customLogs.errors, /Error log/);

    const disabled = await call(cjs, {
      headers: { "x-action": "logs", "x-open-runtimes-logging": "disabled", "x-open-runtimes-log-id": "noLogs" },
    });
    assert.equal(disabled.status, 200);
    assert.equal(header(disabled, "x-open-runtimes-log-id") ?? "", "");
    assert.equal(await cjs.readFile("/mnt/logs/noLogs_logs.log"), null);
    assert.equal(await cjs.readFile("/mnt/logs/noLogs_errors.log"), null);
  });

  test("a log id that is not a plain name is refused", async () => {
    const reply = await call(cjs, { headers: { "x-action": "plaintext", "x-open-runtimes-log-id": "../etc/evil" } });
    assert.equal(reply.status, 500);
    assert.match(reply.text, /x-open-runtimes-log-id/);
  });

  test("concurrent executions keep their native output apart", async () => {
    const [a, b] = await Promise.all([
      call(cjs, { headers: { "x-action": "taggedLogs" }, body: "alpha" }),
      call(cjs, { headers: { "x-action": "taggedLogs" }, body: "bravo" }),
    ]);
    const logsA = (await readLogs(cjs, logId(a))).logs;
    const logsB = (await readLogs(cjs, logId(b))).logs;
    assert.match(logsA, /first alpha\nsecond alpha/);
    assert.match(logsB, /first bravo\nsecond bravo/);
    assert.doesNotMatch(logsA, /bravo/);
    assert.doesNotMatch(logsB, /alpha/);
  });
});

describe("failures", () => {
  test("a thrown exception is a 500 with the stack in the error log", async () => {
    const reply = await call(cjs, { headers: { "x-action": "throw" } });
    assert.equal(reply.status, 500);
    assert.equal(reply.text, "");
    const { logs, errors } = await readLogs(cjs, logId(reply));
    assert.match(logs, /Before error\.\.\./);
    assert.match(errors, /Error: Intentional failure!/);
    assert.match(errors, /index\.js:\d+/, "stack names the entrypoint");
  });

  test("the timeout header is enforced", async () => {
    const startedAt = Date.now();
    const late = await call(cjs, { headers: { "x-action": "timeout", "x-open-runtimes-timeout": "1" } });
    const elapsed = Date.now() - startedAt;
    assert.equal(late.status, 500);
    assert.equal(late.text, "");
    assert.ok(elapsed < 2_500, `answered after ${elapsed} ms`);
    const lateLogs = await readLogs(cjs, logId(late));
    assert.match(lateLogs.errors, /Execution timed out\./);
    assert.match(lateLogs.logs, /Timeout start\./);
    assert.doesNotMatch(lateLogs.logs, /Timeout end\./);

    const inTime = await call(cjs, { headers: { "x-action": "timeout", "x-open-runtimes-timeout": "5" } });
    assert.equal(inTime.status, 200);
    assert.equal(inTime.text, "Successful response.");
    assert.match((await readLogs(cjs, logId(inTime))).logs, /Timeout end\./);
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
      caBundlePath: HOST_CA_BUNDLE,
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
