// Issue 19: a build whose package.json and lockfile are unchanged since the function's last
// successful build restores node_modules from its build cache instead of running
// `npm install`, and says so in its build log; a changed lockfile always installs, and the
// function then serves the new dependency, never the cached one. Real builds, real npm
// registry (the `ms` package), real Docker.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "acme";
const repoName = "deps";
const slug = `hello~${repoName}~${owner}`;

const slipwayYml = `functions:
  - id: hello
    runtime: node-20
    root: fn
    commands: npm ci
    execute: any
`;

// Answers with its own label and the version of `ms` it loaded from node_modules.
const handler = (label: string) => `const ms = require("ms");
module.exports = async (context) => context.res.json({ label: ${JSON.stringify(label)}, ms: require("ms/package.json").version, twoDays: ms("2 days") });
`;

const integrity: Record<string, string> = {
  "2.1.2": "sha512-sGkPx+VjMtmA6MX27oA4FBFELFCZZ4S4XqeGOXCv68tT+jb3vk/RyaKWP0PTKyWtmLSM0b+adUTEvbs1PEaH2w==",
  "2.1.3": "sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA==",
};
const manifest = (version: string, extra: Record<string, unknown> = {}) =>
  `${JSON.stringify({ name: "hello", version: "1.0.0", private: true, dependencies: { ms: version }, ...extra }, null, 2)}\n`;
const lockfile = (version: string) =>
  `${JSON.stringify(
    {
      name: "hello",
      version: "1.0.0",
      lockfileVersion: 3,
      requires: true,
      packages: {
        "": { name: "hello", version: "1.0.0", dependencies: { ms: version } },
        "node_modules/ms": { version, resolved: `https://registry.npmjs.org/ms/-/ms-${version}.tgz`, integrity: integrity[version], license: "MIT" },
      },
    },
    null,
    2,
  )}\n`;

const skippedLine = /\[slipway\] Dependencies unchanged since the last successful build .*npm ci skipped/;
const installLine = /\[slipway\] Installing dependencies: ([^\n]*)/;

describe("dependency installs skipped when nothing they depend on changed", { timeout: 15 * 60_000 }, () => {
  let stack: SlipwayStack;
  let repo: Awaited<ReturnType<SlipwayStack["emulator"]["createRepo"]>>;

  before(async () => {
    stack = await startSlipwayStack();
    repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 4343 });
  });

  after(async () => {
    if (stack) await stack.stop();
  });

  /** Pushes the files, waits for the build's check run, returns its log and what the function answers. */
  async function deploy(files: Record<string, string>, label: string) {
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: label });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: label }), secret: stack.webhookSecret, deliveryId: randomUUID() });
    const run = await stack.emulator.waitFor(
      () => stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === commit.sha && r.status === "completed"),
      { timeoutMs: 5 * 60_000, intervalMs: 250 },
    );
    assert.equal(run.conclusion, "success", `${label} built: ${run.output.summary}\n${run.output.text}`);
    const { log_tail: log } = (await stack.db.query<{ log_tail: string }>("select log_tail from deployments where commit_sha = $1", [commit.sha])).rows[0]!;
    const served = await stack.emulator.waitFor(
      async () => {
        const response = await fetch(`${stack.gatewayUrl}/fn/${slug}/`);
        if (response.status !== 200) return undefined;
        const body = (await response.json()) as { label: string; ms: string; twoDays: number };
        return body.label === label ? body : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    return { log, served };
  }

  test("the first build installs, an unchanged lockfile restores, a changed one installs again", async () => {
    const first = await deploy({ "slipway.yml": slipwayYml, "fn/index.js": handler("one"), "fn/package.json": manifest("2.1.3"), "fn/package-lock.json": lockfile("2.1.3") }, "one");
    assert.match(first.log, installLine);
    assert.match(first.log.match(installLine)![1]!, /no earlier successful build/);
    assert.doesNotMatch(first.log, skippedLine);
    assert.deepEqual(first.served, { label: "one", ms: "2.1.3", twoDays: 172_800_000 });

    // Only the code changed: npm ci does not run, and ms still loads (restored, not missing).
    const second = await deploy({ "fn/index.js": handler("two") }, "two");
    assert.match(second.log, skippedLine);
    assert.doesNotMatch(second.log, installLine);
    assert.doesNotMatch(second.log, /added \d+ package/, "npm itself did not run");
    assert.deepEqual(second.served, { label: "two", ms: "2.1.3", twoDays: 172_800_000 });

    // A changed lockfile always installs, and the function gets the new version, not the cached one.
    const third = await deploy({ "fn/index.js": handler("three"), "fn/package.json": manifest("2.1.2"), "fn/package-lock.json": lockfile("2.1.2") }, "three");
    assert.doesNotMatch(third.log, skippedLine);
    assert.match(third.log.match(installLine)?.[1] ?? "", /changed since v2/);
    assert.match(third.log, /added 1 package/);
    assert.equal(third.served.ms, "2.1.2");

    // And the copy kept is the new one.
    const fourth = await deploy({ "fn/index.js": handler("four") }, "four");
    assert.match(fourth.log, skippedLine);
    assert.equal(fourth.served.ms, "2.1.2");
  });

  test("a package with an install script installs every time, and says why", async () => {
    const withScript = manifest("2.1.2", { scripts: { postinstall: "node -e \"require('fs').writeFileSync('generated.txt', 'x')\"" } });
    const first = await deploy({ "fn/index.js": handler("script one"), "fn/package.json": withScript, "fn/package-lock.json": lockfile("2.1.2") }, "script one");
    assert.doesNotMatch(first.log, skippedLine);
    const second = await deploy({ "fn/index.js": handler("script two") }, "script two");
    assert.doesNotMatch(second.log, skippedLine);
    assert.match(second.log.match(installLine)?.[1] ?? "", /"postinstall" script/);
    assert.equal(second.served.ms, "2.1.2");
  });
});
