import assert from "node:assert/strict";
import { test } from "node:test";
import { accessFromPermission } from "../../src/github/chatops/can-run-command.js";
import { parseCommand } from "../../src/github/chatops/parse-command.js";
import { switchedMessage } from "../../src/github/chatops/render-reply.js";
import { resolvePromoteTarget, resolveRollbackTarget, type DeploymentSummary } from "../../src/deployments/resolve-deployment-target.js";

test("only the first line is parsed, and the command name is case-insensitive", () => {
  assert.deepEqual(parseCommand("/Slipway ROLLBACK v5\nthanks!")?.command, { name: "rollback", target: "v5" });
  assert.equal(parseCommand("looks good\n/slipway rollback"), null);
  assert.equal(parseCommand("/slipwayrollback"), null);
  assert.equal(parseCommand("/slipway rollback")?.text, "/slipway rollback");
});

test("function and target are told apart", () => {
  assert.deepEqual(parseCommand("/slipway rollback api v3")?.command, { name: "rollback", functionName: "api", target: "v3" });
  assert.deepEqual(parseCommand("/slipway rollback api")?.command, { name: "rollback", functionName: "api" });
  assert.deepEqual(parseCommand("/slipway rollback 1a2b3c4")?.command, { name: "rollback", target: "1a2b3c4" });
  assert.deepEqual(parseCommand("/slipway promote pr-12")?.command, { name: "promote", target: "pr-12" });
  assert.deepEqual(parseCommand("/slipway redeploy api --no-cache")?.command, { name: "redeploy", functionName: "api", noCache: true });
  assert.deepEqual(parseCommand("/slipway unpin")?.command, { name: "unpin" });
});

test("an unknown command is a request for help that names it", () => {
  assert.deepEqual(parseCommand("/slipway deploy-everything")?.command, { name: "help", unknown: "deploy-everything" });
  assert.deepEqual(parseCommand("/slipway")?.command, { name: "help" });
});

test("write, maintain, admin and custom roles built on them may run commands; triage, read and none may not", () => {
  // As GitHub reports them: `permission` is the base level, `role_name` the role (maybe custom).
  for (const [permission, role] of [["admin", "admin"], ["write", "maintain"], ["write", "write"], ["write", "deployer"]]) {
    assert.deepEqual(accessFromPermission({ permission: permission!, role_name: role! }), { canDeploy: true, role });
  }
  for (const [permission, role] of [["read", "triage"], ["read", "read"], ["read", "reviewer"], ["none", ""]]) {
    assert.equal(accessFromPermission({ permission: permission!, role_name: role! }).canDeploy, false, `${role || permission} may not deploy`);
  }
  assert.deepEqual(accessFromPermission(null), { canDeploy: false, role: "no" }, "a user GitHub does not know");
});

const deployments: DeploymentSummary[] = [
  { id: "00000000-0000-0000-0000-000000000001", version: 1, status: "ready", commitSha: "aaaaaaa1".padEnd(40, "0"), pruned: false },
  { id: "00000000-0000-0000-0000-000000000002", version: 2, status: "failed", commitSha: "bbbbbbb2".padEnd(40, "0"), pruned: false },
  { id: "00000000-0000-0000-0000-000000000003", version: 3, status: "ready", commitSha: "ccccccc3".padEnd(40, "0"), pruned: false },
  { id: "00000000-0000-0000-0000-000000000004", version: 4, status: "ready", commitSha: "ddddddd4".padEnd(40, "0"), pruned: false },
];
const current = deployments[3]!;

test("a rollback goes to the previous ready version by default, skipping failed ones", () => {
  const result = resolveRollbackTarget(deployments, current);
  assert.ok(result.ok && result.deployment.version === 3);
  const fromThree = resolveRollbackTarget(deployments, deployments[2]!);
  assert.ok(fromThree.ok && fromThree.deployment.version === 1);
});

test("a rollback by version, sha or id; failed, unknown and current targets are refused with a reason", () => {
  assert.ok(resolveRollbackTarget(deployments, current, "v1").ok);
  const bySha = resolveRollbackTarget(deployments, current, "ccccccc");
  assert.ok(bySha.ok && bySha.deployment.version === 3);
  assert.ok(resolveRollbackTarget(deployments, current, "00000000-0000-0000-0000-000000000001").ok);
  assert.deepEqual(resolveRollbackTarget(deployments, current, "v2"), { ok: false, reason: "v2 is failed; only a ready deployment can serve" });
  assert.deepEqual(resolveRollbackTarget(deployments, current, "v9"), { ok: false, reason: "there is no v9" });
  assert.deepEqual(resolveRollbackTarget(deployments, current, "v4"), { ok: false, reason: "v4 is already serving" });
  assert.equal(resolveRollbackTarget(deployments, deployments[0]!).ok, false);
  assert.equal(resolveRollbackTarget(deployments, null).ok, false);
});

test("a deployment whose build was pruned is skipped by default and refused by name, with what to do instead", () => {
  const withPruned = deployments.map((d) => (d.version === 3 ? { ...d, pruned: true } : d));
  const result = resolveRollbackTarget(withPruned, current);
  assert.ok(result.ok && result.deployment.version === 1, "the default rollback skips v3");
  assert.deepEqual(resolveRollbackTarget(withPruned, current, "v3"), {
    ok: false,
    reason: "v3's build was removed by the retention policy (SLIPWAY_KEEP_DEPLOYMENTS); redeploy its commit to serve it again",
  });
  const newestPruned = deployments.map((d) => (d.version === 4 ? { ...d, pruned: true } : d));
  const promoted = resolvePromoteTarget(newestPruned, deployments[0]!);
  assert.ok(promoted.ok && promoted.deployment.version === 3, "promote skips a pruned newest");
});

test("a promote picks the newest ready deployment unless told otherwise", () => {
  const result = resolvePromoteTarget(deployments, deployments[0]!);
  assert.ok(result.ok && result.deployment.version === 4);
  assert.deepEqual(resolvePromoteTarget(deployments, current), { ok: false, reason: "v4 is already serving" });
});

test("a switch reply says which gateways did not confirm serving it, and nothing when all did", () => {
  const result = { functionName: "api", fromVersion: 3, toVersion: 2, pinned: true, url: "https://fn.example/fn/api/", durationMs: 40 };
  assert.doesNotMatch(switchedMessage({ ...result, unconfirmedGateways: [] }, "rollback"), /gateway/);
  assert.match(switchedMessage({ ...result, unconfirmedGateways: ["g-1"] }, "rollback"), /⚠️ 1 gateway did not confirm serving it \(g-1\); see their logs\.$/);
});
