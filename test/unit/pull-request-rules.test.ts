import assert from "node:assert/strict";
import { test } from "node:test";
import { checkRunActions } from "../../src/github/check-run-actions.js";
import { forkBuildGate } from "../../src/github/fork-build-gate.js";
import { parseBuildAnnotations } from "../../src/pipeline/parse-build-annotations.js";
import { renderPullRequestComment } from "../../src/github/render-pull-request-comment.js";
import { decideByChangedPaths, watchesAny } from "../../src/github/select-changed-functions.js";
import { skipReasonForMessage } from "../../src/github/skip-reason-for-message.js";
import { parseDeploymentPath } from "../../src/gateway/route-key.js";
import { parseSlipwayConfig } from "../../src/config/parse-slipway-config.js";

test("[skip ci] and [skip deploy] in any case skip; other brackets do not", () => {
  assert.match(skipReasonForMessage("fix typo [skip ci]")!, /\[skip ci\]/);
  assert.match(skipReasonForMessage("docs\n\n[Skip Deploy]")!, /Skip Deploy/);
  assert.match(skipReasonForMessage("[ci skip] tidy")!, /ci skip/);
  assert.equal(skipReasonForMessage("skip ci without brackets"), null);
  assert.equal(skipReasonForMessage("[wip] feature"), null);
  assert.equal(skipReasonForMessage(null), null);
});

test("a function builds only when a path it watches changed, dotfiles included", () => {
  const fn = { id: "api", watch: ["functions/api/**", "slipway.yml"] };
  assert.deepEqual(decideByChangedPaths(fn, ["functions/api/index.js"], "a".repeat(40)), { build: true });
  assert.deepEqual(decideByChangedPaths(fn, ["functions/api/.config/x"], null), { build: true });
  assert.deepEqual(decideByChangedPaths(fn, ["slipway.yml"], null), { build: true });
  const skipped = decideByChangedPaths(fn, ["functions/apix/index.js", "README.md"], "abcdef1234");
  assert.equal(skipped.build, false);
  assert.match((skipped as { reason: string }).reason, /since `abcdef1`/);
  assert.match((skipped as { reason: string }).reason, /2 files changed/);
  assert.deepEqual(decideByChangedPaths(fn, null, null), { build: true }, "unknown changes build");
  assert.ok(watchesAny(["lib/*.ts"], ["lib/a.ts"]));
  assert.ok(!watchesAny(["lib/*.ts"], ["lib/sub/a.ts"]));
  assert.ok(watchesAny(["**"], [".github/workflows/x.yml"]));
});

test("watch and supersede are read from slipway.yml with defaults", () => {
  const parsed = parseSlipwayConfig("functions:\n  - id: a\n    runtime: node-20\n    watch: ['shared/**']\n    supersede: false\n", ["node-20"]);
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.config.functions[0]!.watch, ["shared/**"]);
  assert.equal(parsed.config.functions[0]!.supersede, false);
  const defaults = parseSlipwayConfig("functions:\n  - id: a\n    runtime: node-20\n", ["node-20"]);
  assert.ok(defaults.ok);
  assert.equal(defaults.config.functions[0]!.supersede, true);
  assert.equal(parseSlipwayConfig("functions:\n  - id: a\n    runtime: node-20\n    watch: []\n", ["node-20"]).ok, false);
});

test("fork code builds only once its exact head commit is approved", () => {
  assert.deepEqual(forkBuildGate({ isFork: false, headSha: "a", approvedSha: null }), { build: true });
  assert.equal(forkBuildGate({ isFork: true, headSha: "a", approvedSha: null }).build, false);
  assert.deepEqual(forkBuildGate({ isFork: true, headSha: "a", approvedSha: "a" }), { build: true });
  const moved = forkBuildGate({ isFork: true, headSha: "b".repeat(40), approvedSha: "a".repeat(40) });
  assert.equal(moved.build, false);
  assert.match((moved as { reason: string }).reason, /needs its own approval/);
});

test("buttons: cancel while building, promote on a preview, rollback on live production, approve for forks; never more than three", () => {
  assert.deepEqual(checkRunActions({ phase: "building", alias: "pr-3", serving: false }).map((a) => a.identifier), ["cancel"]);
  assert.deepEqual(checkRunActions({ phase: "ready", alias: "pr-3", serving: true }).map((a) => a.identifier), ["promote"]);
  assert.deepEqual(checkRunActions({ phase: "ready", alias: "production", serving: true }).map((a) => a.identifier), ["rollback"]);
  assert.deepEqual(checkRunActions({ phase: "ready", alias: "production", serving: false }), []);
  assert.deepEqual(checkRunActions({ phase: "awaiting approval", alias: "pr-3", serving: false }).map((a) => a.identifier), ["approve"]);
  for (const phase of ["queued", "building", "ready", "failed", "cancelled", "awaiting approval"] as const) {
    for (const action of checkRunActions({ phase, alias: "pr-1", serving: true })) {
      assert.ok(action.label.length <= 20 && action.description.length <= 40 && action.identifier.length <= 20);
    }
  }
});

test("tsc errors (both formats) become annotations under the function's root", () => {
  const log = [
    "src/index.ts(3,7): error TS2322: Type 'string' is not assignable to type 'number'.",
    "\u001b[96msrc/util.ts\u001b[0m:\u001b[93m12\u001b[0m:\u001b[93m5\u001b[0m - \u001b[91merror\u001b[0m\u001b[90m TS2304: \u001b[0mCannot find name 'x'.",
    "/usr/lib/node_modules/typescript/lib/lib.d.ts(1,1): error TS1000: not the user's",
  ].join("\n");
  const annotations = parseBuildAnnotations(log, "functions/api");
  assert.deepEqual(
    annotations.map((a) => [a.path, a.start_line, a.title]),
    [["functions/api/src/index.ts", 3, "tsc TS2322"], ["functions/api/src/util.ts", 12, "tsc TS2304"]],
  );
  assert.equal(annotations[0]!.annotation_level, "failure");
});

test("cargo errors carry their --> location", () => {
  const log = `   Compiling handler v0.1.0 (/mnt/code)
error[E0308]: mismatched types
  --> src/lib.rs:7:20
   |
7  |     let x: u32 = "a";
warning: unused variable: \`y\`
 --> src/lib.rs:9:9
error: could not compile \`handler\``;
  const annotations = parseBuildAnnotations(log, "rust");
  assert.deepEqual(annotations.map((a) => [a.path, a.start_line, a.annotation_level, a.message]), [
    ["rust/src/lib.rs", 7, "failure", "mismatched types"],
    ["rust/src/lib.rs", 9, "warning", "unused variable: `y`"],
  ]);
});

test("a Python traceback points at the deepest frame in the user's code", () => {
  const log = `Traceback (most recent call last):
  File "/usr/local/server/src/server.py", line 10, in <module>
    import main
  File "/mnt/code/main.py", line 4, in <module>
    from helpers import thing
  File "/mnt/code/helpers.py", line 2, in <module>
    raise ValueError("bad config")
  File "/usr/lib/python3.13/x.py", line 1, in f
ValueError: bad config`;
  assert.deepEqual(parseBuildAnnotations(log, "."), [
    { path: "helpers.py", start_line: 2, end_line: 2, annotation_level: "failure", title: "Python traceback", message: "ValueError: bad config" },
  ]);
});

test("annotations are capped at 50 per request", () => {
  const log = Array.from({ length: 80 }, (_, i) => `a.ts(${i + 1},1): error TS1005: ';' expected.`).join("\n");
  assert.equal(parseBuildAnnotations(log).length, 50);
});

test("the sticky comment lists every function with status, version, preview URL and logs", () => {
  const id = "11111111-2222-3333-4444-555555555555";
  const body = renderPullRequestComment({
    number: 7,
    state: "open",
    publicUrl: "https://fn.example",
    appUrl: "https://app.example",
    rows: [
      { functionName: "api", slug: "api~r~o", note: null, deploymentId: id, status: "ready", version: 3, commitSha: "abcdef1234567" },
      { functionName: "docs", slug: "docs~r~o", note: "skipped: no path it watches changed", deploymentId: null, status: null, version: null, commitSha: null },
      { functionName: "web", slug: "web~r~o", note: null, deploymentId: id, status: "building", version: 4, commitSha: "abcdef1234567" },
    ],
  });
  assert.match(body, /^<!-- slipway:pull-request-comment -->/);
  assert.match(body, /\| `api` \| ✅ ready \| v3 \(`abcdef1`\) \| \[pr-7\]\(https:\/\/fn\.example\/fn\/api~r~o~pr-7\/\)/);
  assert.ok(body.includes(`https://fn.example/d/${id}/`));
  assert.ok(body.includes(`[logs](https://app.example/deployments/${id})`));
  assert.match(body, /\| `docs` \| ➖ skipped \|/);
  assert.match(body, /\| `web` \| 🔨 building \| v4/);
  const closed = renderPullRequestComment({ number: 7, state: "closed", publicUrl: "p", appUrl: "a", rows: [] });
  assert.match(closed, /closed: its previews were removed/);
});

test("immutable deployment URLs parse to the deployment and its path", () => {
  const id = "11111111-2222-3333-4444-555555555555";
  assert.deepEqual(parseDeploymentPath(`/d/${id}/x/y?z=1`), { deploymentId: id, path: "/x/y?z=1" });
  assert.deepEqual(parseDeploymentPath(`/d/${id}`), { deploymentId: id, path: "/" });
  assert.equal(parseDeploymentPath("/d/not-a-uuid/"), null);
});
