// Issue 12's promise that no report is lost: a burst of pushes and a pull request meet GitHub
// at its worst (secondary rate limits on writes, a primary rate limit spent, a burst of 5xx
// answers, slow answers), and every check run, GitHub Deployment status and the sticky
// comment still ends in its final state, each function serving its newest commit.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { RepoRecord } from "../emulator/emulator-types.js";
import { pullRequestPayload, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "stormy";
const marker = "<!-- slipway:pull-request-comment -->";
const yml = "functions:\n  - id: api\n    runtime: node-20\n    root: api\n    commands: \"\"\n    execute: any\n";
const handler = (v: string) => `module.exports = async (c) => c.res.text(${JSON.stringify(v)});\n`;

describe("reports reach GitHub through its failure modes", { timeout: 10 * 60_000 }, () => {
  let stack: SlipwayStack;

  before(async () => {
    stack = await startSlipwayStack({ env: { SLIPWAY_WEBHOOK_RETRY_SECONDS: "2" } });
  });
  after(async () => {
    if (stack) {
      stack.emulator.faults.clear();
      assert.deepEqual(stack.emulator.validationErrors, []);
      await stack.stop();
    }
  });

  test("a burst through rate limits, 5xx answers and slow answers ends with every report final", async () => {
    const repos: RepoRecord[] = [];
    for (let i = 0; i < 3; i++) {
      const repo = await stack.emulator.createRepo({ owner, name: `storm-${i}`, installationId: 9100 + i });
      repos.push(repo);
    }
    // GitHub at its worst, for the next requests of any installation.
    stack.emulator.faults.secondaryRateLimit({ count: 4, retryAfterSeconds: 1, match: { writesOnly: true } });
    stack.emulator.faults.serverErrors({ count: 6, status: 502 });
    stack.emulator.faults.slow({ ms: 400, count: 12 });

    // Two pushes per repository in quick succession, then a pull request on the first.
    const newest = new Map<string, string>();
    const sent: Promise<unknown>[] = [];
    for (const version of ["one", "two"]) {
      for (const repo of repos) {
        const files = { "slipway.yml": yml, "api/index.js": handler(`${repo.name} ${version}`) };
        const commit = await stack.emulator.commit({ owner, repo: repo.name, files, message: version });
        newest.set(repo.name, commit.sha);
        sent.push(stack.deliver("push", pushPayload({ repo, before: commit.before, after: commit.sha, message: version })));
      }
    }
    // The pull request comes when the first repository's installation has one request left
    // in a window that resets in 4 s.
    await Promise.all(sent);
    stack.emulator.faults.rateLimit({ remaining: 1, resetInSeconds: 4, installationId: 9100 });
    const first = repos[0]!;
    const branch = await stack.emulator.commit({ owner, repo: first.name, branch: "feature", files: { "api/index.js": handler("preview") }, message: "preview" });
    const pr = await stack.emulator.createPullRequest({ owner, repo: first.name, head: "feature" });
    sent.push(stack.deliver("pull_request", pullRequestPayload({ repo: first, number: pr.number, pullRequest: pr })));
    await Promise.all(sent);

    for (const repo of repos) {
      const sha = newest.get(repo.name)!;
      await stack.emulator.waitFor(async () => (await (await fetch(`${stack.gatewayUrl}/fn/api~${repo.name}~${owner}/`)).text()) === `${repo.name} two`, {
        timeoutMs: 180_000,
        intervalMs: 250,
      });
      const run = await stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, repo.name).find((r) => r.head_sha === sha && r.status === "completed"), {
        timeoutMs: 120_000,
        intervalMs: 250,
        describe: () => stack.logs().slice(-3000),
      });
      assert.equal(run.conclusion, "success", run.output.summary ?? "");
      // Every run of the repository ends completed: the older commit's too (built or superseded).
      await stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, repo.name).every((r) => r.status === "completed"), { timeoutMs: 120_000, intervalMs: 250 });
      const production = await stack.emulator.waitFor(
        () => stack.emulator.deployments(owner, repo.name).find((d) => d.sha === sha && d.environment === "production" && d.statuses.at(-1)?.state === "success"),
        { timeoutMs: 120_000, intervalMs: 250 },
      );
      assert.ok(production);
    }
    const previewRun = await stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, first.name).find((r) => r.head_sha === branch.sha && r.status === "completed"), {
      timeoutMs: 120_000,
      intervalMs: 250,
    });
    assert.equal(previewRun.conclusion, "success", previewRun.output.summary ?? "");
    const comment = await stack.emulator.waitFor(
      () => stack.emulator.comments(owner, first.name, pr.number).find((c) => c.body.startsWith(marker) && c.body.includes("✅ ready")),
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    assert.equal(stack.emulator.comments(owner, first.name, pr.number).filter((c) => c.body.startsWith(marker)).length, 1, "one sticky comment");
    assert.ok(comment);

    // The faults were really served, and the outbox is empty: GitHub heard everything.
    const kinds = new Set(stack.emulator.faults.served.map((f) => f.kind));
    for (const kind of ["secondary-rate-limit", "server-error", "slow", "rate-limit"]) assert.ok(kinds.has(kind as never), `GitHub served a ${kind}`);
    await stack.emulator.waitFor(async () => (await stack.db.query("select 1 from github_reports where revision > reported")).rowCount === 0, { timeoutMs: 60_000, intervalMs: 250 });
  });
});
