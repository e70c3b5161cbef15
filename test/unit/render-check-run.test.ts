import assert from "node:assert/strict";
import { test } from "node:test";
import { failureOutput, invalidConfigOutput, logTail, maxOutputText } from "../../src/github/render-check-run.js";
import { parseFunctionPath, routeKey } from "../../src/gateway/route-key.js";

test("a huge log is cut to its tail within GitHub's 65,535 characters, without colour codes", () => {
  const log = "\u001b[31mred\u001b[0m\n" + "x".repeat(200_000) + "\nTHE END";
  const tail = logTail(log);
  assert.ok(tail.length <= maxOutputText);
  assert.ok(tail.includes("THE END"));
  assert.ok(!tail.includes("\u001b["));
});

test("a failure names the failing command and the reason", () => {
  const output = failureOutput({ version: 3, reason: "the build command exited with code 2", failedCommand: "npm run build", log: "boom", timings: { fetch: 12 } });
  assert.match(output.title, /v3 failed/);
  assert.match(output.summary, /npm run build/);
  assert.match(output.summary, /\| fetch \| 12 ms \|/);
});

test("config problems become annotations on slipway.yml, at most 50", () => {
  const problems = Array.from({ length: 60 }, (_, i) => ({ message: `problem ${i}`, line: i + 1, column: 1, path: "" }));
  const output = invalidConfigOutput(problems);
  assert.equal(output.annotations!.length, 50);
  assert.equal(output.annotations![4]!.start_line, 5);
  assert.match(output.summary, /line 60/);
});

test("function URLs map to route keys and the path the function sees", () => {
  assert.deepEqual(parseFunctionPath("/fn/hello~r~o/a/b?x=1"), { key: "hello~r~o", path: "/a/b?x=1" });
  assert.deepEqual(parseFunctionPath("/fn/hello~r~o"), { key: "hello~r~o", path: "/" });
  assert.equal(parseFunctionPath("/other"), null);
  assert.equal(routeKey("s", "production"), "s");
  assert.equal(routeKey("s", "pr-4"), "s~pr-4");
});
