// The language-neutral part of the open-runtimes v5 contract, checked against
// every runtime in conformance-runtimes.ts through the same fixture function
// written in each runtime's language: every response kind, status codes and
// headers, request parsing, bodies (including bad JSON and the 20 MB limit),
// logs from context.log and from native printing, the timeout, the secret and a
// thrown exception. Images are built and driven exactly as Slipway's executor
// does (Docker API, tar archives, no bind mounts), over loopback HTTP.
//
//   node --import tsx --test test/runtimes/conformance.test.ts
//
// Needs the images (bash scripts/setup.sh) and the language registries
// reachable from build containers. Runtime-specific behaviour is tested in
// test/runtimes/<runtime>.test.ts.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import path from "node:path";
import { buildFunction, docker, startFunction, type BuildResult, type RunningFunction } from "../support/runtime-harness.js";
import { imageSupportsPool } from "../../src/gateway/runtime-pool.js";
import { MB, call, header, listArtifact, logId, readLogs } from "../support/runtime-client.js";
import { conformanceRuntimes, hostCaBundle } from "./conformance-runtimes.js";

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// Each runtime is checked started both ways the gateway starts it: a container created for
// the function, and (for an image with the pool loader) a runtime pool member that was
// started with no code, secret or variables and given them afterwards. One build serves both.
// SLIPWAY_TEST_RUNTIME_START=created|pooled checks one way only.
const builds = new Map<string, Promise<BuildResult>>();
const only = process.env.SLIPWAY_TEST_RUNTIME_START;
const poolable = new Map(await Promise.all(conformanceRuntimes.map(async (r) => [r.name, await imageSupportsPool(docker, r.image)] as const)));
// Slipway's node and python images have the loader: a pooled start is always checked for them.
const pooledAlways = new Set(["node-20", "python-3.13"]);
const starts = conformanceRuntimes.flatMap((runtime) =>
  (["created", "pooled"] as const)
    .filter((start) => (only ? start === only : start === "created" || pooledAlways.has(runtime.name) || poolable.get(runtime.name)))
    .map((start) => ({ runtime, start })),
);

for (const { runtime, start } of starts) {
  describe(start === "created" ? runtime.name : `${runtime.name} (pooled)`, () => {
    let build: BuildResult;
    let fn: RunningFunction;

    before(async () => {
      try {
        await docker.getImage(runtime.image).inspect();
      } catch {
        throw new Error(`image ${runtime.image} is missing: run \`bash scripts/setup.sh\` first`);
      }
      if (start === "pooled") assert.ok(poolable.get(runtime.name), `image ${runtime.image} has no pool loader: rebuild it from runtimes/${runtime.name}`);
      if (!builds.has(runtime.name)) {
        builds.set(runtime.name, buildFunction(runtime.image, runtime.fixture, { entrypoint: runtime.entrypoint, commands: runtime.commands, caBundlePath: hostCaBundle }));
      }
      build = await builds.get(runtime.name)!;
      assert.equal(build.exitCode, 0, `build failed:\n${build.logs}`);
      fn = await startFunction(runtime.image, build.artifact, {
        entrypoint: runtime.entrypoint,
        env: ["CUSTOM_ENV_VAR=customValue", 'OPEN_RUNTIMES_HEADERS={"X-Forced-Header":"forced-value"}'],
        start,
      });
    });

    after(async () => {
      await fn?.stop();
    });

    describe("lifecycle", () => {
      test("the build runs the commands and packs a gzip artifact with metadata and dotfiles", async () => {
        assert.match(build.logs, new RegExp(`Build command execution started: ${escapeRegExp(runtime.commands)}`));
        assert.match(build.logs, /Build finished\./);
        assert.deepEqual([...build.artifact.subarray(0, 2)], [0x1f, 0x8b], "artifact is gzip");
        const files = await listArtifact(build.artifact);
        const metadata = files.get(".open-runtimes")?.toString("utf8") ?? "";
        assert.match(metadata, new RegExp(`^OPEN_RUNTIMES_ENTRYPOINT=${escapeRegExp(runtime.entrypoint)}$`, "m"));
        assert.equal(files.get(".config/.file")?.toString("utf8"), "HIDDEN_FILE\n", "dotfiles are packed");
        assert.ok(![...files.keys()].some((name) => name.endsWith("code.tar.gz")), "artifact does not contain itself");
      });

      test("the server announces itself and answers health checks without the secret", async () => {
        assert.match(await fn.output(), /HTTP server successfully started/);
        const reply = await call(fn, { method: "GET", path: "/__opr/health", authenticate: false });
        assert.equal(reply.status, 200);
        assert.equal(reply.text, "OK");
      });

      test("start-up timings are recorded", async () => {
        const reply = await call(fn, { method: "GET", path: "/__opr/timings", authenticate: false });
        assert.equal(reply.status, 200);
        assert.match(reply.text, /^extract=\d+\.\d+$/m);
        assert.match(reply.text, /^startup=\d+\.\d+$/m);
      });
    });

    describe("security headers", () => {
      test("a missing or wrong secret is refused", async () => {
        for (const headers of [{}, { "x-open-runtimes-secret": "wrong-secret" }] as Record<string, string>[]) {
          const reply = await call(fn, { headers: { "x-action": "plaintext", ...headers }, authenticate: false });
          assert.equal(reply.status, 500);
          assert.equal(reply.text, 'Unauthorized. Provide correct "x-open-runtimes-secret" header.');
        }
        const ok = await call(fn, { headers: { "x-action": "plaintext" } });
        assert.equal(ok.status, 200);
      });

      test("an invalid timeout header is refused", async () => {
        for (const value of ["abcd", "0", "-1", "1.5"]) {
          const reply = await call(fn, { headers: { "x-action": "plaintext", "x-open-runtimes-timeout": value } });
          assert.equal(reply.status, 500, `timeout ${value}`);
          assert.equal(reply.text, 'Header "x-open-runtimes-timeout" must be an integer greater than 0.');
        }
      });
    });

    describe("responses", () => {
      test("text", async () => {
        const reply = await call(fn, { headers: { "x-action": "plaintext" } });
        assert.equal(reply.status, 200);
        assert.equal(reply.text, "Hello World 👋");
        assert.equal(header(reply, "content-type"), "text/plain; charset=utf-8");
      });

      test("json with status and headers", async () => {
        const reply = await call(fn, { headers: { "x-action": "json" } });
        assert.equal(reply.status, 201);
        assert.equal(header(reply, "content-type"), "application/json; charset=utf-8");
        assert.equal(header(reply, "x-json"), "yes");
        assert.deepEqual(JSON.parse(reply.text), { json: true, message: "Developers are awesome." });
      });

      test("custom status, lower-cased headers, x-open-runtimes-* response headers dropped", async () => {
        const reply = await call(fn, { headers: { "x-action": "status" } });
        assert.equal(reply.status, 404);
        assert.equal(reply.text, "FAIL");
        assert.equal(header(reply, "x-custom-out"), "out-value");
        assert.equal(header(reply, "x-open-runtimes-custom-out"), undefined);
      });

      test("binary", async () => {
        const reply = await call(fn, { headers: { "x-action": "binary" } });
        assert.equal(reply.status, 200);
        assert.deepEqual([...reply.body], [0, 10, 255]);
        assert.equal(header(reply, "content-type"), "application/octet-stream; charset=utf-8");
      });

      test("redirect", async () => {
        const permanent = await call(fn, { headers: { "x-action": "redirect" } });
        assert.equal(permanent.status, 301);
        assert.equal(header(permanent, "location"), "https://example.com/next");
        assert.equal(permanent.text, "");

        const temporary = await call(fn, { headers: { "x-action": "redirectTemporary" } });
        assert.equal(temporary.status, 307);
        assert.equal(header(temporary, "location"), "/elsewhere");
        assert.equal(header(temporary, "x-why"), "moved");
      });

      test("empty", async () => {
        const reply = await call(fn, { headers: { "x-action": "empty" } });
        assert.equal(reply.status, 204);
        assert.equal(reply.body.length, 0);
      });

      test("send (deprecated) with status and headers", async () => {
        const reply = await call(fn, { headers: { "x-action": "send" }, body: "Hello" });
        assert.equal(reply.status, 202);
        assert.equal(reply.text, "Hello");
        assert.equal(header(reply, "x-sent"), "1");
      });

      test("content-type charset handling", async () => {
        const custom = await call(fn, { headers: { "x-action": "customCharset" } });
        assert.equal(header(custom, "content-type"), "text/plain; charset=iso-8859-1");
        const upper = await call(fn, { headers: { "x-action": "uppercaseContentType" } });
        assert.equal(header(upper, "content-type"), "text/plain; charset=utf-8");
        assert.equal(upper.text, "ÅÆ");
        const multipart = await call(fn, { headers: { "x-action": "multipart" } });
        assert.equal(header(multipart, "content-type"), "multipart/form-data; boundary=12345");
      });

      test("only the returned response counts", async () => {
        const reply = await call(fn, { headers: { "x-action": "doubleResponse" } });
        assert.equal(reply.status, 200);
        assert.equal(reply.text, "This should be returned.");
      });
    });

    describe("requests", () => {
      test("method, url, path, query parsing, scheme, host and port", async () => {
        for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
          const reply = await call(fn, { method, headers: { "x-action": "request" } });
          assert.equal(reply.status, 200);
          assert.equal(JSON.parse(reply.text).method, method);
        }

        const plain = JSON.parse((await call(fn, { path: "/", headers: { "x-action": "request" } })).text);
        assert.equal(plain.path, "/");
        assert.deepEqual(plain.query, {});
        assert.equal(plain.queryString, "");
        assert.equal(plain.scheme, "http");
        assert.equal(plain.host, "127.0.0.1");

        const forwarded = JSON.parse(
          (
            await call(fn, {
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
          (await call(fn, { path: "/?a=b&c==d&e=f=g=&h&i=j&&k", headers: { "x-action": "request" } })).text,
        );
        assert.deepEqual(tricky.query, { a: "b", c: "=d", e: "f=g=", h: "", i: "j", k: "" });

        const encoded = JSON.parse((await call(fn, { path: "/p%20q?x=a%20b&y=%F0%9F%91%8B", headers: { "x-action": "request" } })).text);
        assert.equal(encoded.path, "/p%20q", "the path is not decoded");
        assert.deepEqual(encoded.query, { x: "a%20b", y: "%F0%9F%91%8B" }, "query values are not decoded");

        const defaultPort = JSON.parse(
          (await call(fn, { headers: { "x-action": "request", host: "myapp.com", "x-forwarded-proto": "https" } })).text,
        );
        assert.equal(defaultPort.port, 443);
        assert.equal(defaultPort.url, "https://myapp.com/");
      });

      test("x-open-runtimes-* request headers are hidden, names lower-cased, OPEN_RUNTIMES_HEADERS forced", async () => {
        const reply = await call(fn, {
          headers: {
            "x-action": "headers",
            "X-UpPeRcAsE-KeY": "value",
            "x-open-runtimes-custom-header": "should-be-hidden",
            "X-Open-Runtimes-Other": "hidden-too",
            "x-forced-header": "client-value",
          },
        });
        assert.equal(reply.status, 200);
        const headers = JSON.parse(reply.text) as Record<string, string>;
        assert.equal(headers["x-action"], "headers");
        assert.equal(headers["x-uppercase-key"], "value");
        assert.equal(headers["X-UpPeRcAsE-KeY"], undefined);
        assert.equal(headers["x-forced-header"], "forced-value", "OPEN_RUNTIMES_HEADERS wins over the request");
        for (const name of Object.keys(headers)) {
          assert.equal(name, name.toLowerCase());
          assert.ok(!name.startsWith("x-open-runtimes-"), `${name} leaked to the function`);
        }
      });

      test("bodyText, bodyRaw, bodyBinary and content-type driven body", async () => {
        const text = await call(fn, { headers: { "x-action": "bodyText" }, body: "Hello 👋" });
        assert.equal(text.text, "Hello 👋");
        const raw = await call(fn, { headers: { "x-action": "bodyRaw" }, body: '{"raw":true}' });
        assert.equal(raw.text, '{"raw":true}');

        const bytes = Buffer.from("0123456789abcdef00ff", "hex");
        const binary = await call(fn, {
          headers: { "x-action": "bodyBinary", "content-type": "application/octet-stream" },
          body: bytes,
        });
        assert.deepEqual(binary.body, bytes);

        const asJson = await call(fn, {
          headers: { "x-action": "bodyAuto", "content-type": "ApPlIcAtIoN/JSON" },
          body: '{"key1":"OK 👋","key2":true,"key3":3}',
        });
        assert.deepEqual(JSON.parse(asJson.text), { type: "object", body: { key1: "OK 👋", key2: true, key3: 3 } });

        const emptyJson = await call(fn, { headers: { "x-action": "bodyAuto", "content-type": "application/json" } });
        assert.deepEqual(JSON.parse(emptyJson.text), { type: "object", body: {} });

        const asText = await call(fn, { headers: { "x-action": "bodyAuto", "content-type": "text/plain" }, body: '{"a":1}' });
        assert.deepEqual(JSON.parse(asText.text), { type: "string", body: '{"a":1}' });

        const explicitJson = await call(fn, { headers: { "x-action": "bodyJson" }, body: '{"hello":"world"}' });
        assert.deepEqual(JSON.parse(explicitJson.text), { hello: "world" });
      });

      test("an invalid JSON body is a 500 with a JSON error in the error log", async () => {
        const reply = await call(fn, {
          headers: { "x-action": "bodyJson", "content-type": "application/json" },
          body: '{"invalidJson:true}',
        });
        assert.equal(reply.status, 500);
        assert.equal(reply.text, "");
        const { errors } = await readLogs(fn, logId(reply));
        assert.match(errors, /json/i);
      });

      test("bodies up to 20 MB are accepted, larger ones refused", async () => {
        const fits = randomBytes(20 * MB - 1024);
        const ok = await call(fn, {
          method: "PUT",
          headers: { "x-action": "bodyHash", "content-type": "application/octet-stream" },
          body: fits,
        });
        assert.equal(ok.status, 200);
        assert.equal(ok.text, createHash("md5").update(fits).digest("hex"));
        assert.equal(header(ok, "x-size"), String(fits.length));

        const tooBig = await call(fn, {
          method: "POST",
          headers: { "x-action": "bodyHash", "content-type": "application/octet-stream" },
          body: Buffer.alloc(20 * MB + 1, 7),
        });
        assert.equal(tooBig.status, 500);
        assert.equal(tooBig.text, "");
        const { errors } = await readLogs(fn, logId(tooBig));
        assert.match(errors, /larger than the 20 MB limit/);

        // The connection and server stay usable afterwards.
        const afterwards = await call(fn, { headers: { "x-action": "plaintext" } });
        assert.equal(afterwards.status, 200);
      });

      test("environment variables and hidden files reach the function", async () => {
        const env = JSON.parse((await call(fn, { headers: { "x-action": "env" } })).text);
        assert.deepEqual(env, { custom: "customValue", entrypoint: runtime.entrypoint });
        const hidden = await call(fn, { headers: { "x-action": "hiddenFile" } });
        assert.equal(hidden.text, "HIDDEN_FILE");
      });
    });

    describe("logging", () => {
      test("context.log/error and native output land in the execution's log files", async () => {
        const reply = await call(fn, { headers: { "x-action": "logs" } });
        assert.equal(reply.status, 200);
        assert.equal(reply.text, "");
        const id = logId(reply);
        assert.match(id, /^[0-9a-f]{20}$/);

        const { logs, errors } = await readLogs(fn, id);
        // native output
        assert.match(logs, /Native logs detected\. Use context\.log\(\) or context\.error\(\) for better experience\./);
        assert.match(logs, /^Native log\b.*nativeValue/m);
        assert.match(logs, /^Native error$/m);
        assert.match(logs, /^Raw stdout write$/m);
        assert.match(logs, /^Raw stderr write$/m);
        // context.log
        assert.match(logs, /^Debug log$/m);
        assert.match(logs, /^42 4\.2 true$/im);
        assert.match(logs, /"objectKey":"objectValue"/);
        assert.match(logs, /^\["arrayValue"\]$/m);
        assert.match(logs, /^engine: open-runtimes$/m);
        assert.match(logs, /^A{8000}\.\.\. Log truncated due to size limit \(8000 characters\)$/m);
        // context.error
        assert.match(errors, /^Error log$/m);
        assert.match(errors, /^B{8000}\.\.\. Log truncated due to size limit \(8000 characters\)$/m);
        assert.doesNotMatch(errors, /Debug log/);

        // Native output of the execution did not reach the container's stdout.
        assert.doesNotMatch(await fn.output(), /Raw stdout write|Native log/);
      });

      test("log ids are unique, can be chosen, and logging can be disabled", async () => {
        const first = logId(await call(fn, { headers: { "x-action": "logs" } }));
        const second = logId(await call(fn, { headers: { "x-action": "logs" } }));
        assert.notEqual(first, second);
        // Slipway's runtimes: an execution that writes nothing, under an id nobody chose,
        // leaves no log files and returns no log id.
        const quiet = await call(fn, { headers: { "x-action": "plaintext" } });
        assert.equal(header(quiet, "x-open-runtimes-log-id") ?? "", "");

        const custom = await call(fn, {
          headers: { "x-action": "logs", "x-open-runtimes-log-id": "customLogs", "x-open-runtimes-logging": "enabled" },
        });
        assert.equal(header(custom, "x-open-runtimes-log-id"), "customLogs");
        const customLogs = await readLogs(fn, "customLogs");
        assert.match(customLogs.logs, /Debug log/);
        assert.match(customLogs.errors, /Error log/);

        const disabled = await call(fn, {
          headers: { "x-action": "logs", "x-open-runtimes-logging": "disabled", "x-open-runtimes-log-id": "noLogs" },
        });
        assert.equal(disabled.status, 200);
        assert.equal(header(disabled, "x-open-runtimes-log-id") ?? "", "");
        assert.equal(await fn.readFile("/mnt/logs/noLogs_logs.log"), null);
        assert.equal(await fn.readFile("/mnt/logs/noLogs_errors.log"), null);
      });

      test("x-open-runtimes-log-files: lazy makes a named log id's files appear only when written to", async () => {
        // Without it (or with any other value) a named id gets both files, even empty.
        const eager = await call(fn, {
          headers: { "x-action": "plaintext", "x-open-runtimes-log-id": "eagerQuiet", "x-open-runtimes-log-files": "eager" },
        });
        assert.equal(header(eager, "x-open-runtimes-log-id"), "eagerQuiet");
        assert.equal((await fn.readFile("/mnt/logs/eagerQuiet_logs.log"))?.length, 0);
        assert.equal((await fn.readFile("/mnt/logs/eagerQuiet_errors.log"))?.length, 0);

        const quiet = await call(fn, {
          headers: { "x-action": "plaintext", "x-open-runtimes-log-id": "lazyQuiet", "x-open-runtimes-log-files": "lazy" },
        });
        assert.equal(quiet.status, 200);
        assert.equal(header(quiet, "x-open-runtimes-log-id"), undefined);
        assert.equal(await fn.readFile("/mnt/logs/lazyQuiet_logs.log"), null);
        assert.equal(await fn.readFile("/mnt/logs/lazyQuiet_errors.log"), null);

        const custom = await call(fn, {
          headers: { "x-action": "logs", "x-open-runtimes-log-id": "lazyLogs", "x-open-runtimes-log-files": "LaZy" },
        });
        assert.equal(header(custom, "x-open-runtimes-log-id"), "lazyLogs");
        const lazyLogs = await readLogs(fn, "lazyLogs");
        assert.match(lazyLogs.logs, /Debug log/);
        assert.match(lazyLogs.errors, /Error log/);

        const disabled = await call(fn, {
          headers: {
            "x-action": "logs",
            "x-open-runtimes-logging": "disabled",
            "x-open-runtimes-log-id": "lazyNoLogs",
            "x-open-runtimes-log-files": "lazy",
          },
        });
        assert.equal(disabled.status, 200);
        assert.equal(header(disabled, "x-open-runtimes-log-id"), "");
        assert.equal(await fn.readFile("/mnt/logs/lazyNoLogs_logs.log"), null);
        assert.equal(await fn.readFile("/mnt/logs/lazyNoLogs_errors.log"), null);

        const seen = await call(fn, {
          headers: { "x-action": "headers", "x-open-runtimes-log-id": "lazyHeaders", "x-open-runtimes-log-files": "lazy" },
        });
        assert.equal(seen.status, 200);
        assert.equal((JSON.parse(seen.text) as Record<string, string>)["x-open-runtimes-log-files"], undefined);
      });

      test("a log id that is not a plain name is refused", async () => {
        const reply = await call(fn, { headers: { "x-action": "plaintext", "x-open-runtimes-log-id": "../etc/evil" } });
        assert.equal(reply.status, 500);
        assert.match(reply.text, /x-open-runtimes-log-id/);
      });

      test("concurrent executions keep their native output apart", async () => {
        const [a, b] = await Promise.all([
          call(fn, { headers: { "x-action": "taggedLogs" }, body: "alpha" }),
          call(fn, { headers: { "x-action": "taggedLogs" }, body: "bravo" }),
        ]);
        assert.equal(a.text, "alpha");
        assert.equal(b.text, "bravo");
        const logsA = (await readLogs(fn, logId(a))).logs;
        const logsB = (await readLogs(fn, logId(b))).logs;
        assert.match(logsA, /first alpha\nsecond alpha/);
        assert.match(logsB, /first bravo\nsecond bravo/);
        assert.doesNotMatch(logsA, /bravo/);
        assert.doesNotMatch(logsB, /alpha/);
      });
    });

    describe("failures", () => {
      test("a thrown exception is a 500 with the error and the entrypoint in the error log", async () => {
        const reply = await call(fn, { headers: { "x-action": "throw" } });
        assert.equal(reply.status, 500);
        assert.equal(reply.text, "");
        const { logs, errors } = await readLogs(fn, logId(reply));
        assert.match(logs, /Before error\.\.\./);
        assert.match(errors, /Intentional failure!/);
        assert.match(errors, new RegExp(escapeRegExp(path.posix.basename(runtime.entrypoint))), "the error names the entrypoint");

        // The runtime survives.
        const next = await call(fn, { headers: { "x-action": "plaintext" } });
        assert.equal(next.status, 200);
      });

      test("the timeout header is enforced", async () => {
        const startedAt = Date.now();
        const late = await call(fn, { headers: { "x-action": "timeout", "x-open-runtimes-timeout": "1" } });
        const elapsed = Date.now() - startedAt;
        assert.equal(late.status, 500);
        assert.equal(late.text, "");
        assert.ok(elapsed < 2_500, `answered after ${elapsed} ms`);
        const lateLogs = await readLogs(fn, logId(late));
        assert.match(lateLogs.errors, /Execution timed out\./);
        assert.match(lateLogs.logs, /Timeout start\./);
        assert.doesNotMatch(lateLogs.logs, /Timeout end\./);

        const inTime = await call(fn, { headers: { "x-action": "timeout", "x-open-runtimes-timeout": "5" } });
        assert.equal(inTime.status, 200);
        assert.equal(inTime.text, "Successful response.");
        assert.match((await readLogs(fn, logId(inTime))).logs, /Timeout end\./);
      });
    });
  });
}
