// Issue 14's promise for build errors: a push whose Node, Python and Rust functions fail to
// build gets failed check runs whose annotations sit at files of the pushed tree, on the
// lines the compiler, linter or interpreter named, whatever folder the runtime built in.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { stringify } from "yaml";
import { pushPayload } from "../emulator/webhooks.js";
import { failingFunctions } from "../fixtures/failing-functions.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "annotated";
const repoName = "broken-builds";

const slipwayYml = stringify({
  functions: Object.entries(failingFunctions).map(([runtime, fn]) => ({ id: fn.name, runtime, root: fn.root, ...(fn.commands ? { commands: fn.commands } : {}) })),
});
const files: Record<string, string> = Object.assign({ "slipway.yml": slipwayYml }, ...Object.values(failingFunctions).map((fn) => fn.files));

describe("build errors become annotations at the pushed files", { timeout: 15 * 60_000 }, () => {
  let stack: SlipwayStack;

  before(async () => {
    stack = await startSlipwayStack({ env: { SLIPWAY_BUILD_CPUS: "2" } });
  });

  after(async () => {
    if (stack) {
      assert.deepEqual(stack.emulator.validationErrors, []);
      await stack.stop();
    }
  });

  test("each runtime's failed check run annotates the repository's own paths and lines", async () => {
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 6161 });
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: "three broken functions" });
    await stack.deliver("push", pushPayload({ repo, before: commit.before, after: commit.sha, message: "three broken functions" }));

    for (const [runtime, fn] of Object.entries(failingFunctions)) {
      const run = await stack.emulator.waitFor(
        () => stack.emulator.checkRuns(owner, repoName).find((r) => r.name === `slipway / ${fn.name}` && r.status === "completed"),
        { timeoutMs: 10 * 60_000, intervalMs: 500 },
      );
      assert.equal(run.conclusion, "failure", `${runtime}: ${run.output?.summary ?? ""}`);
      const places = run.annotations.map((a) => [String(a.path), Number(a.start_line)] as const);
      for (const [path, line] of places) {
        const content = files[path];
        assert.ok(content !== undefined, `${runtime}: ${path} is not a file of the pushed tree`);
        assert.ok(line <= content.split("\n").length, `${runtime}: ${path} has no line ${line}`);
      }
      const sorted = (list: readonly (readonly [string, number])[]) => [...list].map(([p, l]) => `${p}:${l}`).sort();
      assert.deepEqual(sorted(places), sorted(fn.expected.map(([path, line]) => [path, line] as const)), `${runtime}:\n${run.output?.text ?? ""}`);
    }
  });
});
