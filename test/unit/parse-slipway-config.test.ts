import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSlipwayConfig } from "../../src/config/parse-slipway-config.js";

const runtimes = ["node-20", "python-3.13"];

test("a valid config is accepted with defaults applied", () => {
  const result = parseSlipwayConfig("functions:\n  - id: hello\n    runtime: node-20\n", runtimes);
  assert.ok(result.ok);
  assert.deepEqual(result.config.functions[0], { id: "hello", runtime: "node-20", root: ".", cache: true, supersede: true });
});

test("an unknown runtime is reported on its line with the known runtimes", () => {
  const result = parseSlipwayConfig("functions:\n  - id: hello\n    runtime: cobol\n", runtimes);
  assert.ok(!result.ok);
  assert.equal(result.problems.length, 1);
  assert.equal(result.problems[0]!.line, 3);
  assert.match(result.problems[0]!.message, /cobol|runtime/);
  assert.match(result.problems[0]!.message, /node-20, python-3.13/);
});

test("a missing id points at the function that lacks it", () => {
  const result = parseSlipwayConfig("functions:\n  - id: a\n    runtime: node-20\n  - runtime: node-20\n", runtimes);
  assert.ok(!result.ok);
  assert.equal(result.problems[0]!.line, 4);
  assert.match(result.problems[0]!.message, /functions\[1\]\.id: is required/);
});

test("unknown keys, duplicate ids and escaping roots are each reported", () => {
  const text = "functions:\n  - id: a\n    runtime: node-20\n    rooot: x\n  - id: a\n    runtime: node-20\n    root: ../other\n";
  const result = parseSlipwayConfig(text, runtimes);
  assert.ok(!result.ok);
  const messages = result.problems.map((p) => p.message).join("\n");
  assert.match(messages, /unknown key 'rooot'/);
  assert.match(messages, /'a' is used by two functions/);
  assert.match(messages, /inside the repository/);
});

test("YAML syntax errors carry a line", () => {
  const result = parseSlipwayConfig("functions:\n  - id: [\n", runtimes);
  assert.ok(!result.ok);
  assert.match(result.problems[0]!.message, /YAML syntax error/);
  assert.ok(result.problems[0]!.line >= 2);
});

test("an empty file says what is required", () => {
  const result = parseSlipwayConfig("", runtimes);
  assert.ok(!result.ok);
  assert.match(result.problems[0]!.message, /functions: is required/);
});

test("build.packages takes Debian package names", () => {
  const text = "functions:\n  - id: thumbs\n    runtime: node-20\n    build:\n      packages: [libvips-dev, g++, libstdc++6, python3.13-dev]\n";
  const result = parseSlipwayConfig(text, runtimes);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
  assert.deepEqual(result.config.functions[0]!.build, { packages: ["libvips-dev", "g++", "libstdc++6", "python3.13-dev"] });
});

test("build.packages refuses what is not a package name, on its own line", () => {
  const text = [
    "functions:",
    "  - id: thumbs",
    "    runtime: node-20",
    "    build:",
    "      packages:",
    "        - libvips-dev",
    "        - 'curl; rm -rf /'",
    "        - --allow-unauthenticated",
    "        - libvips-dev=8.16",
    "        - LibVips",
  ].join("\n");
  const result = parseSlipwayConfig(text, runtimes);
  assert.ok(!result.ok);
  assert.deepEqual(
    result.problems.map((p) => [p.line, p.path]),
    [7, 8, 9, 10].map((line, i) => [line, `functions[0].build.packages[${i + 1}]`]),
  );
  assert.match(result.problems[0]!.message, /must be a Debian package name: a-z, 0-9, '\+', '-' and '\.', like libvips-dev/);
  const unknown = parseSlipwayConfig("functions:\n  - id: a\n    runtime: node-20\n    build:\n      apt: [x]\n", runtimes);
  assert.ok(!unknown.ok);
  assert.match(unknown.problems[0]!.message, /functions\[0\]\.build: unknown key 'apt'/);
});
