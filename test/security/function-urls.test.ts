// Issue 13, unambiguous function URLs, end to end on the real stack: another account cannot
// take over a preview's URL by naming its repository after it, two repositories whose
// names differ only in punctuation both deploy and each serves its own code, and a URL of
// the old form (<function>--<repo>--<owner>) is redirected only where exactly one function
// can be meant. The key's own rules are in test/unit/route-key.test.ts.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { RepoRecord } from "../emulator/emulator-types.js";
import { pullRequestPayload, pushPayload } from "../emulator/webhooks.js";
import { functionSlug, functionUrl } from "../../src/gateway/route-key.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const yml = (id: string) => `functions:\n  - id: ${id}\n    runtime: node-20\n    root: fn\n    commands: ""\n    execute: any\n`;
const handler = (text: string) => `module.exports = async (c) => c.res.text(${JSON.stringify(text)} + " " + c.req.path);\n`;

describe("function URLs name one function and alias", { timeout: 12 * 60_000 }, () => {
  let stack: SlipwayStack;

  before(async () => {
    stack = await startSlipwayStack();
  });
  after(async () => {
    if (stack) {
      assert.deepEqual(stack.emulator.validationErrors, [], "every request Slipway made matches GitHub's OpenAPI description");
      await stack.stop();
    }
  });

  async function deploy(repo: RepoRecord, id: string, text: string, branch?: string) {
    const commit = await stack.emulator.commit({ owner: repo.owner, repo: repo.name, branch, files: { "slipway.yml": yml(id), "fn/index.js": handler(text) }, message: text });
    if (!branch) await stack.deliver("push", pushPayload({ repo, before: commit.before, after: commit.sha, message: text }));
    const run = await stack.emulator.waitFor(
      () => stack.emulator.checkRuns(repo.owner, repo.name).find((r) => r.head_sha === commit.sha && r.name === `slipway / ${id}` && r.status === "completed"),
      { timeoutMs: 240_000, intervalMs: 250 },
    );
    return { commit, run, branch };
  }
  const get = (path: string) => fetch(`${stack.gatewayUrl}${path}`, { redirect: "manual" });
  const text = async (path: string) => (await get(path)).text();
  const until = (path: string, expected: string) =>
    stack.emulator.waitFor(async () => (await text(path)) === expected, { timeoutMs: 60_000, intervalMs: 250 });

  test("an account named after an alias cannot serve its code at another account's preview URL", async () => {
    const victim = await stack.emulator.createRepo({ owner: "acme", name: "app", installationId: 8301 });
    await deploy(victim, "hello", "acme production");
    const preview = await stack.emulator.commit({ owner: "acme", repo: "app", branch: "feature", files: { "fn/index.js": handler("acme preview") }, message: "preview" });
    const pr = await stack.emulator.createPullRequest({ owner: "acme", repo: "app", head: "feature" });
    assert.equal(pr.number, 1);
    await stack.deliver("pull_request", pullRequestPayload({ repo: victim, number: pr.number, pullRequest: pr }));
    const victimKey = functionSlug("acme", "app", "hello");
    assert.equal(victimKey, "hello~app~acme");
    const previewPath = `/fn/${victimKey}~pr-1/`;
    await stack.emulator.waitFor(
      () => stack.emulator.checkRuns("acme", "app").find((r) => r.head_sha === preview.sha && r.name === "slipway / hello" && r.status === "completed"),
      { timeoutMs: 240_000, intervalMs: 250 },
    );
    await until(previewPath, "acme preview /");

    // The account pr-1 names a repository app--acme with a function hello: under the old
    // scheme its production URL was /fn/hello--app--acme--pr-1/, acme's preview.
    const attacker = await stack.emulator.createRepo({ owner: "pr-1", name: "app--acme", installationId: 8302 });
    const attack = await deploy(attacker, "hello", "attacker");
    assert.equal(attack.run.conclusion, "success", attack.run.output.summary ?? "");
    const attackerUrl = functionUrl(stack.gatewayUrl, functionSlug("pr-1", "app--acme", "hello"));
    assert.equal(attackerUrl, `${stack.gatewayUrl}/fn/hello~app--acme~pr-1/`);
    assert.ok(attack.run.output.summary!.includes("/fn/hello~app--acme~pr-1/"), "its check run names its own URL");
    assert.equal(await (await fetch(attackerUrl)).text(), "attacker /");
    assert.equal(await text(`${previewPath}x?y=1`), "acme preview /x", "acme's preview still serves acme's code");
    assert.equal(await text(`/fn/${victimKey}/`), "acme production /");

    // The old form of acme's production URL can mean one function only: redirected, method,
    // path and query kept (308). The old preview URL could mean either: not guessed at.
    const moved = await get("/fn/hello--app--acme/a/b?c=1");
    assert.equal(moved.status, 308);
    assert.equal(moved.headers.get("location"), `${stack.gatewayUrl}/fn/hello~app~acme/a/b?c=1`);
    const ambiguous = await get("/fn/hello--app--acme--pr-1/");
    assert.equal(ambiguous.status, 404, await ambiguous.text());
    const posted = await fetch(`${stack.gatewayUrl}/fn/hello--app--acme/p`, { method: "POST", body: "x" });
    assert.equal(await posted.text(), "acme production /p", "fetch follows the 308 with the POST");
  });

  test("my.app and my-app of one owner each serve their own function", async () => {
    const dotted = await stack.emulator.createRepo({ owner: "acme", name: "my.app", installationId: 8301 });
    const dashed = await stack.emulator.createRepo({ owner: "acme", name: "my-app", installationId: 8301 });
    const first = await deploy(dotted, "api", "dotted");
    const second = await deploy(dashed, "api", "dashed");
    assert.equal(first.run.conclusion, "success", first.run.output.summary ?? "");
    assert.equal(second.run.conclusion, "success", second.run.output.summary ?? "");
    assert.equal(await text("/fn/api~my.app~acme/"), "dotted /");
    assert.equal(await text("/fn/api~my-app~acme/"), "dashed /");
    // Both had /fn/api--my-app--acme/ before: neither is guessed.
    assert.equal((await get("/fn/api--my-app--acme/")).status, 404);
    // Case does not make another function: GitHub's names are case-insensitive.
    assert.equal(functionSlug("Acme", "My.App", "api"), "api~my.app~acme");
  });
});
