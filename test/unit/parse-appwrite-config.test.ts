import assert from "node:assert/strict";
import { test } from "node:test";
import { mapAppwriteEvent } from "../../src/config/map-appwrite-event.js";
import { mapAppwriteFunctionId } from "../../src/config/map-appwrite-function-id.js";
import { nearestRuntime } from "../../src/config/nearest-runtime.js";
import { parseAppwriteConfig } from "../../src/config/parse-appwrite-config.js";
import { parseRepositoryConfig } from "../../src/config/parse-repository-config.js";

const runtimes = ["node-20", "python-3.13", "rust-1.85"];

function appwriteJson(functions: unknown[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ projectId: "shop", projectName: "Shop", ...extra, functions }, null, 4);
}

const starter = { $id: "hello", name: "Hello", runtime: "node-20.0", path: "functions/hello", entrypoint: "src/main.js", commands: "npm install", execute: ["any"], events: [], schedule: "", timeout: 15, enabled: true, logging: true };

test("an Appwrite CLI function maps field by field onto a Slipway function, with nothing to note", () => {
  const result = parseAppwriteConfig(appwriteJson([starter]), runtimes);
  assert.ok(result.ok);
  assert.deepEqual(result.config.functions, [
    { id: "hello", runtime: "node-20", root: "functions/hello", entrypoint: "src/main.js", commands: "npm install", watch: ["functions/hello/**", "appwrite.json"], execute: ["any"], timeout: 15, cache: true, supersede: true },
  ]);
  assert.deepEqual(result.notes, []);
  assert.deepEqual(result.appwrite, { hello: { functionId: "hello", name: "Hello", runtime: "node-20.0", projectId: "shop" } });
});

test("schedule, events, execute teams and an empty build command carry over", () => {
  const result = parseAppwriteConfig(
    appwriteJson([{ ...starter, commands: "", execute: ["team:ops", "users"], schedule: "*/5 * * * *", events: ["functions.*.deployments.*.update", "functions.Other_Fn.deployments.*"] }]),
    runtimes,
  );
  assert.ok(result.ok);
  const fn = result.config.functions[0]!;
  assert.equal(fn.commands, "");
  assert.deepEqual(fn.execute, ["team:ops", "users"]);
  assert.equal(fn.schedule, "*/5 * * * *");
  assert.deepEqual(fn.events, ["deployments.*.*", "deployments.other-fn.*"]);
});

test("a runtime runs on the nearest Slipway runtime of its language, and a different version is noted", () => {
  const result = parseAppwriteConfig(appwriteJson([{ ...starter, runtime: "node-18.0" }, { ...starter, $id: "py", path: "functions/py", runtime: "python-3.12" }, { ...starter, $id: "rs", path: "functions/rs", runtime: "rust-1.83" }]), runtimes);
  assert.ok(result.ok);
  assert.deepEqual(result.config.functions.map((f) => f.runtime), ["node-20", "python-3.13", "rust-1.85"]);
  assert.deepEqual(result.notes.map((n) => n.function), ["hello", "py", "rs"]);
  assert.match(result.notes[0]!.message, /node-18\.0 runs on Slipway's node-20: the versions differ/);
  assert.match(result.notes[1]!.message, /python-3\.12 runs on Slipway's python-3\.13: the versions differ/);
});

test("nearestRuntime prefers the same major version, then the newer of two as near", () => {
  assert.deepEqual(nearestRuntime("node-20.0", ["node-18", "node-20", "node-22"]), { ok: true, runtime: "node-20", sameVersion: true });
  assert.deepEqual(nearestRuntime("node-21.0", ["node-20", "node-22"]), { ok: true, runtime: "node-22", sameVersion: false });
  assert.deepEqual(nearestRuntime("python-3.9", ["python-3.13", "node-20"]), { ok: true, runtime: "python-3.13", sameVersion: false });
  const none = nearestRuntime("php-8.2", runtimes);
  assert.ok(!none.ok);
  assert.match(none.message, /no php runtime/);
  assert.ok(!nearestRuntime("node", runtimes).ok);
});

test("a runtime of a language Slipway lacks is a problem on its line", () => {
  const text = appwriteJson([{ ...starter, runtime: "dart-3.1" }]);
  const result = parseAppwriteConfig(text, runtimes);
  assert.ok(!result.ok);
  assert.equal(result.problems.length, 1);
  assert.equal(result.problems[0]!.path, "functions[0].runtime");
  assert.equal(result.problems[0]!.line, text.split("\n").findIndex((l) => l.includes('"dart-3.1"')) + 1);
  assert.match(result.problems[0]!.message, /no dart runtime/);
});

test("every field Slipway cannot honour is listed, never dropped in silence", () => {
  const result = parseAppwriteConfig(
    appwriteJson(
      [{ ...starter, logging: false, scopes: ["users.read"], specification: "s-1vcpu-512mb", ignore: ["node_modules"], execute: ["any", "user:42", "guests", "team:ops/admin", "users/verified"], events: ["users.*.create", "functions.hello.deployments.abc.update", "functions.*.deployments.*.create"], bundle: "x" }],
      { collections: [{ $id: "orders" }], buckets: [] },
    ),
    runtimes,
  );
  assert.ok(result.ok);
  const messages = result.notes.map((n) => n.message).join("\n");
  for (const expected of ["`collections` is not deployed", "`logging` false", "`scopes` (users.read)", "`specification`", "`ignore`", "'user:42' is not granted", "'guests' is not granted", "'team:ops/admin' is not granted", "'users/verified' is not granted", "'users.*.create' is unsupported", "'functions.hello.deployments.abc.update' is unsupported", "'functions.*.deployments.*.create' is unsupported", "`bundle` is not read"]) {
    assert.ok(messages.includes(expected), `the notes say ${expected}:\n${messages}`);
  }
  assert.ok(!messages.includes("buckets"), "an empty list is nothing to note");
  // A role that cannot be granted narrows who may call; it is never widened.
  assert.deepEqual(result.config.functions[0]!.execute, ["any"]);
  assert.equal(result.config.functions[0]!.events, undefined);
});

test("$ids map to Slipway ids, the change is noted, and two that collide are an error naming both", () => {
  const renamed = parseAppwriteConfig(appwriteJson([{ ...starter, $id: "Send_Email.v2" }]), runtimes);
  assert.ok(renamed.ok);
  assert.equal(renamed.config.functions[0]!.id, "send-email-v2");
  assert.equal(renamed.appwrite["send-email-v2"]!.functionId, "Send_Email.v2");
  assert.match(renamed.notes[0]!.message, /'Send_Email\.v2' deploys as Slipway function 'send-email-v2'/);

  const clash = parseAppwriteConfig(appwriteJson([{ ...starter, $id: "send_email" }, { ...starter, $id: "Send-Email" }]), runtimes);
  assert.ok(!clash.ok);
  assert.equal(clash.problems.length, 1);
  assert.equal(clash.problems[0]!.path, "functions[1].$id");
  assert.match(clash.problems[0]!.message, /'Send-Email' and 'send_email' would both deploy as Slipway function 'send-email'/);

  assert.deepEqual(mapAppwriteFunctionId("ABC"), { ok: true, id: "abc" });
  assert.ok(!mapAppwriteFunctionId("_hidden").ok);
  assert.ok(!mapAppwriteFunctionId("a b").ok);
});

test("a disabled function is not deployed, and says so", () => {
  const result = parseAppwriteConfig(appwriteJson([{ ...starter, enabled: false }, { ...starter, $id: "b", path: "functions/b" }]), runtimes);
  assert.ok(result.ok);
  assert.deepEqual(result.config.functions.map((f) => f.id), ["b"]);
  assert.match(result.notes[0]!.message, /`enabled` is false: not deployed/);
});

test("Slipway's own rules are reported in appwrite.json's words: path, schedule, timeout", () => {
  const text = appwriteJson([{ ...starter, path: "../elsewhere", schedule: "every day", timeout: 3600 }]);
  const result = parseAppwriteConfig(text, runtimes);
  assert.ok(!result.ok);
  assert.deepEqual(result.problems.map((p) => p.path).sort(), ["functions[0].path", "functions[0].schedule", "functions[0].timeout"]);
  const timeout = result.problems.find((p) => p.path === "functions[0].timeout")!;
  assert.equal(timeout.line, text.split("\n").findIndex((l) => l.includes('"timeout"')) + 1);
});

test("JSON that does not parse, and fields of the wrong type, are problems with a place", () => {
  const broken = parseAppwriteConfig('{\n  "functions": [\n    { "$id": "a", }\n  ]\n}\n', runtimes);
  assert.ok(!broken.ok);
  assert.match(broken.problems[0]!.message, /^JSON syntax error/);
  assert.equal(broken.problems[0]!.line, 3);

  const missing = parseAppwriteConfig(appwriteJson([{ $id: "a", runtime: "node-20.0" }]), runtimes);
  assert.ok(!missing.ok);
  assert.deepEqual(missing.problems.map((p) => p.message), ["functions[0].path: is required"]);
});

test("slipway.yml wins over appwrite.json; an appwrite.json without functions deploys nothing and is not reported", () => {
  const slipway = parseRepositoryConfig({ fileName: "slipway.yml", text: "functions:\n  - id: a\n    runtime: node-20\n" }, runtimes);
  assert.ok(slipway?.ok);
  assert.equal(slipway.fileName, "slipway.yml");
  assert.equal(parseRepositoryConfig({ fileName: "appwrite.json", text: JSON.stringify({ projectId: "p", collections: [{ $id: "c" }] }) }, runtimes), null);
  const appwrite = parseRepositoryConfig({ fileName: "appwrite.json", text: appwriteJson([starter]) }, runtimes);
  assert.ok(appwrite?.ok);
  assert.deepEqual(appwrite.config.functions.map((f) => f.id), ["hello"]);
});

test("mapAppwriteEvent keeps only the deployment events Slipway emits", () => {
  assert.deepEqual(mapAppwriteEvent("functions.*.deployments.*.update"), { ok: true, pattern: "deployments.*.*" });
  assert.deepEqual(mapAppwriteEvent("functions.api.deployments.*"), { ok: true, pattern: "deployments.api.*" });
  assert.deepEqual(mapAppwriteEvent("functions.API.deployments.*.*"), { ok: true, pattern: "deployments.api.*" });
  assert.ok(!mapAppwriteEvent("functions.api.executions.*.create").ok);
  assert.ok(!mapAppwriteEvent("databases.*.collections.*.documents.*.create").ok);
});
