// Issue 16: a build that fails for want of a library says which, and how to add it. A Node
// addon includes <yaml.h> without `build.packages: [libyaml-dev]`: its check run's title
// names yaml.h, the summary gives the build.packages lines, and the #include line is
// annotated. A build.packages name Debian does not have fails the build saying so.
//
// SLIPWAY_TEST_RUNTIME_TAG: as in native-builds.test.ts.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { runtimesFile } from "../support/runtimes-file.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "native";
const repoName = "broken";

const files: Record<string, string> = {
  "slipway.yml": `functions:
  - id: addon
    runtime: node-20
    root: addon
  - id: typo
    runtime: python-3.13
    root: typo
    build:
      packages: [libyaml-dev, libyam-dev]
`,
  "addon/package.json": JSON.stringify({ name: "addon", version: "1.0.0", gypfile: true, scripts: { install: "node-gyp rebuild" } }),
  "addon/binding.gyp": `{ "targets": [{ "target_name": "native", "sources": ["native.c"] }] }\n`,
  "addon/native.c": "#include <node_api.h>\n#include <yaml.h>\n\nNAPI_MODULE_INIT() { return exports; }\n",
  "addon/index.js": "module.exports = async ({ res }) => res.text(require('./build/Release/native.node') ? 'ok' : 'no');\n",
  "typo/main.py": "def main(context):\n    return context.res.text('ok')\n",
};

describe("native build failures", { timeout: 15 * 60_000 }, () => {
  let stack: SlipwayStack;

  before(async () => {
    stack = await startSlipwayStack({ env: await runtimesFile(process.env.SLIPWAY_TEST_RUNTIME_TAG) });
  });

  after(async () => {
    if (stack) {
      assert.deepEqual(stack.emulator.validationErrors, []);
      await stack.stop();
    }
  });

  test("the check run names the missing header or package and the build.packages fix", async () => {
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 1617 });
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: "needs libyaml" });
    await deliverWebhook({
      url: stack.webhookUrl,
      event: "push",
      payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: "needs libyaml" }),
      secret: stack.webhookSecret,
    });
    const finished = (name: string) =>
      stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, repoName).find((r) => r.name === `slipway / ${name}` && r.status === "completed"), {
        timeoutMs: 10 * 60_000,
        intervalMs: 500,
      });

    const addon = await finished("addon");
    assert.equal(addon.conclusion, "failure");
    assert.match(addon.output?.title ?? "", /^v1 failed: yaml\.h missing \(/);
    assert.match(addon.output?.summary ?? "", /\*\*Missing from the build:\*\* `yaml\.h`/);
    assert.match(addon.output?.summary ?? "", /```yaml\nbuild:\n {2}packages: \[libyaml-dev\]\n```/);
    const annotations = addon.annotations.map((a) => ({ path: String(a.path), start_line: Number(a.start_line), message: String(a.message) }));
    const include = annotations.find((a) => a.path === "addon/native.c");
    assert.ok(include, JSON.stringify(annotations));
    assert.equal(include.start_line, 2);
    assert.match(include.message, /build\.packages: \[libyaml-dev\]/);

    const typo = await finished("typo");
    assert.equal(typo.conclusion, "failure");
    assert.match(typo.output?.summary ?? "", /`libyam-dev` in build\.packages is not a package of Debian trixie/);
  });
});
