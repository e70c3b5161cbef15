import assert from "node:assert/strict";
import { test } from "node:test";
import type { Principal } from "../../src/api/api-tokens.js";
import { canExecute } from "../../src/executions/can-execute.js";
import { matchEventPattern } from "../../src/executions/match-event-pattern.js";
import { validateSchedule } from "../../src/executions/validate-schedule.js";
import { parseSlipwayConfig } from "../../src/config/parse-slipway-config.js";
import { checkVariableName } from "../../src/variables/check-variable-name.js";
import { createMasterKeyring, openValue, sealValue } from "../../src/variables/master-keyring.js";

const fn = "11111111-1111-4111-8111-111111111111";
const deployment = "22222222-2222-4222-8222-222222222222";
const token = (kind: Principal["kind"], extra: Partial<Principal> = {}) => ({ kind: "token" as const, principal: { tokenId: "t", name: "n", kind, teams: [], scopes: [], functionId: null, deploymentId: null, ...extra } });

test("execute: any is public; the default allows server keys only", () => {
  assert.deepEqual(canExecute(["any"], { kind: "anonymous" }, fn, deployment), { allowed: true });
  assert.deepEqual(canExecute([], token("server"), fn, deployment), { allowed: true });
  const anonymous = canExecute([], { kind: "anonymous" }, fn, deployment);
  assert.equal(anonymous.allowed, false);
  assert.equal(!anonymous.allowed && anonymous.status, 401);
  assert.match(!anonymous.allowed ? anonymous.message : "", /server API key/);
  const client = canExecute([], token("client"), fn, deployment);
  assert.equal(!client.allowed && client.status, 403);
});

test("execute: users, team and key permissions, allowed and refused with what is missing", () => {
  assert.equal(canExecute(["users"], token("client"), fn, deployment).allowed, true);
  assert.equal(canExecute(["team:ops"], token("client", { teams: ["ops"] }), fn, deployment).allowed, true);
  assert.equal(canExecute(["key:reports"], token("client", { scopes: ["reports"] }), fn, deployment).allowed, true);
  const wrongTeam = canExecute(["team:ops", "key:reports"], token("client", { teams: ["sales"] }), fn, deployment);
  assert.equal(!wrongTeam.allowed && wrongTeam.status, 403);
  assert.match(!wrongTeam.allowed ? wrongTeam.message : "", /team 'ops'.*scope 'reports'.*teams sales/);
  const invalid = canExecute(["users"], { kind: "invalid" }, fn, deployment);
  assert.equal(!invalid.allowed && invalid.status, 401);
  assert.match(!invalid.allowed ? invalid.message : "", /unknown, expired or revoked/);
  assert.equal(canExecute([], token("execution", { functionId: fn }), fn, deployment).allowed, true, "an execution key runs its own function");
  assert.equal(canExecute([], token("execution", { functionId: "other" }), fn, deployment).allowed, false);
  const preview = token("execution", { functionId: fn, deploymentId: "33333333-3333-4333-8333-333333333333" });
  assert.equal(canExecute(["users"], preview, fn, deployment).allowed, false, "a preview's key never runs production");
  assert.equal(canExecute([], preview, fn, "33333333-3333-4333-8333-333333333333").allowed, true, "a preview's key runs its own deployment");
  assert.equal(canExecute([], token("execution", { functionId: fn, deploymentId: deployment }), fn, deployment).allowed, true);
});

test("event patterns: * is one segment, a final ** any number", () => {
  assert.ok(matchEventPattern("deployments.*.ready", "deployments.hello.ready"));
  assert.ok(!matchEventPattern("deployments.*.ready", "deployments.hello.failed"));
  assert.ok(!matchEventPattern("deployments.*", "deployments.hello.ready"));
  assert.ok(matchEventPattern("deployments.**", "deployments.hello.ready"));
  assert.ok(matchEventPattern("orders.created", "orders.created"));
  assert.ok(!matchEventPattern("orders.created", "orders.created.late"));
});

test("schedules: 5-field cron only, with a message that says how to fix it", () => {
  assert.equal(validateSchedule("*/5 * * * *"), null);
  assert.match(validateSchedule("* * * * * *")!, /has 6 fields; use 5/);
  assert.match(validateSchedule("61 * * * *")!, /not a valid cron expression/);
});

test("slipway.yml: execute, schedule, events, variables and timeout are checked", () => {
  const ok = parseSlipwayConfig(
    `functions:\n  - id: a\n    runtime: node-20\n    execute: [users, "team:ops"]\n    schedule: "0 * * * *"\n    events: ["deployments.*.ready"]\n    variables: { GREETING: hi, RETRIES: 3 }\n    timeout: 20\n`,
    ["node-20"],
  );
  assert.ok(ok.ok);
  assert.deepEqual(ok.ok && ok.config.functions[0]!.execute, ["users", "team:ops"]);
  assert.deepEqual(ok.ok && ok.config.functions[0]!.variables, { GREETING: "hi", RETRIES: "3" });
  const single = parseSlipwayConfig(`functions:\n  - id: a\n    runtime: node-20\n    execute: any\n`, ["node-20"]);
  assert.deepEqual(single.ok && single.config.functions[0]!.execute, ["any"]);
  const bad = parseSlipwayConfig(`functions:\n  - id: a\n    runtime: node-20\n    execute: everyone\n    schedule: "* * * * * *"\n    variables: { SLIPWAY_X: y }\n`, ["node-20"]);
  assert.ok(!bad.ok);
  const messages = !bad.ok ? bad.problems.map((p) => `${p.line}: ${p.message}`).join("\n") : "";
  assert.match(messages, /4: .*execute.*any, users, team:<name> or key:<scope>/);
  assert.match(messages, /5: .*schedule.*6 fields/);
  assert.match(messages, /reserved/);
});

test("variables: names are checked; values seal with AES-256-GCM and open only with their name and key", () => {
  assert.equal(checkVariableName("API_KEY"), null);
  assert.match(checkVariableName("OPEN_RUNTIMES_SECRET")!, /reserved/);
  assert.match(checkVariableName("1X")!, /not a valid/);
  const keyring = createMasterKeyring("a".repeat(64))!;
  const sealed = sealValue(keyring, "s3cret", "1:project:API_KEY");
  assert.ok(!sealed.ciphertext.toString("utf8").includes("s3cret"));
  assert.equal(openValue(keyring, sealed, "1:project:API_KEY"), "s3cret");
  assert.throws(() => openValue(keyring, sealed, "1:project:OTHER"));
  const rotated = createMasterKeyring(Buffer.alloc(32, 7).toString("base64"), "a".repeat(64))!;
  assert.equal(openValue(rotated, sealed, "1:project:API_KEY"), "s3cret", "the previous key still decrypts");
  assert.notEqual(rotated.currentKeyId, sealed.keyId);
  assert.throws(() => createMasterKeyring("short"), /32 bytes/);
});
