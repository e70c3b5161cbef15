// Issue 14's promises that are about GitHub itself, end to end on the real stack with the
// emulator: a delivery that can never succeed ends in a failed check run at once (a
// repository created with the name of one whose function holds the URL), a comment command is acknowledged
// with 👀 before any other GitHub call, every check run links somewhere, and Re-run on a
// skipped run builds it (or, on an invalid slipway.yml, says why it cannot).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { JsonObject, RepoRecord } from "../emulator/emulator-types.js";
import { loadWebhookExample } from "../emulator/load-webhook-example.js";
import { retargetWebhookExample } from "../emulator/retarget-webhook-example.js";
import { commitCommentPayload, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "acme";
const yml = "functions:\n  - id: api\n    runtime: node-20\n    root: api\n    commands: \"\"\n    execute: any\n";
const handler = (v: string) => `module.exports = async (c) => c.res.text(${JSON.stringify(v)});\n`;

describe("GitHub as it really behaves", { timeout: 10 * 60_000 }, () => {
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

  async function push(repo: RepoRecord, files: Record<string, string>, message: string) {
    const commit = await stack.emulator.commit({ owner, repo: repo.name, files, message });
    const sent = await stack.deliver("push", pushPayload({ repo, before: commit.before, after: commit.sha, message }));
    return { sha: commit.sha, deliveryId: sent.deliveryId };
  }
  const completed = (repo: string, sha: string, name: string, not?: number) =>
    stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, repo).find((r) => r.head_sha === sha && r.name === name && r.status === "completed" && r.id !== not), {
      timeoutMs: 180_000,
      intervalMs: 200,
    });
  const served = async (slug: string) => (await fetch(`${stack.gatewayUrl}/fn/${slug}/`)).text();
  const delivery = async (id: string) =>
    (await stack.db.query<{ status: string; attempts: number; last_error: string | null }>("select status, attempts, last_error from webhook_deliveries where id = $1", [id])).rows[0]!;

  test("a function whose URL an earlier repository of the same name holds fails its check run at once, saying why; nothing is retried", async () => {
    // A repository renamed away (or deleted) and another created with its old name: the
    // function of the first keeps its URL, so nobody else can take it over. The rename is
    // written into the functions table as Slipway keeps it (the slug stays).
    const earlier = await stack.emulator.createRepo({ owner, name: "hello-old", installationId: 8101 });
    const first = await push(earlier, { "slipway.yml": yml, "api/index.js": handler("earlier") }, "earlier");
    assert.equal((await completed("hello-old", first.sha, "slipway / api")).conclusion, "success");
    await stack.db.query("update functions set slug = 'api~hello-app~acme' where slug = 'api~hello-old~acme'");

    const reused = await stack.emulator.createRepo({ owner, name: "hello-app", installationId: 8101 });
    const second = await push(reused, { "slipway.yml": yml, "api/index.js": handler("reused") }, "reused");
    const run = await completed("hello-app", second.sha, "slipway / api");
    assert.equal(run.conclusion, "failure");
    assert.match(run.output.summary!, /its URL `\/fn\/api~hello-app~acme\/` still belongs to a function of the repository that had this name before/);
    assert.ok(run.details_url, "the run links somewhere");
    assert.deepEqual(await delivery(second.deliveryId), { status: "processed", attempts: 1, last_error: null }, "handled once, not retried");
    assert.equal(stack.emulator.checkRuns(owner, "hello-app").filter((r) => r.head_sha === second.sha).length, 1);
    // The gateway learns of the moved slug on its next reconcile (SLIPWAY_ROUTE_RECONCILE_SECONDS, 30 s).
    await stack.emulator.waitFor(async () => (await served("api~hello-app~acme")) === "earlier", { timeoutMs: 120_000, intervalMs: 500 });
  });

  test("a comment command is acknowledged with 👀 before any other GitHub call", async () => {
    const repo = await stack.emulator.createRepo({ owner, name: "eyes", installationId: 8102 });
    const deployed = await push(repo, { "slipway.yml": yml, "api/index.js": handler("eyes") }, "eyes");
    await completed("eyes", deployed.sha, "slipway / api");
    stack.emulator.setPermission(owner, "eyes", "maintainer", "write");
    const comment = await stack.emulator.createCommitComment({ owner, repo: "eyes", sha: deployed.sha, body: "/slipway status", user: "maintainer" });
    const from = stack.emulator.requests.length;
    await stack.deliver("commit_comment", commitCommentPayload({ repo, sha: deployed.sha, comment }));
    const calls = stack.emulator.requests.slice(from).filter((r) => r.path.startsWith(`/repos/${owner}/eyes/`));
    assert.ok(calls.length >= 4, calls.map((c) => c.operationId).join(", "));
    assert.equal(calls[0]!.operationId, "reactions/create-for-commit-comment", `first call: ${calls.map((c) => c.operationId).join(", ")}`);
    assert.deepEqual((calls[0]!.body as { content: string }).content, "eyes");
    assert.ok(calls.some((c) => c.operationId === "repos/get-collaborator-permission-level"), "the permission was asked after it");
  });

  test("Re-run on a skipped run builds that function; on an invalid slipway.yml it says why not; every run links somewhere", async () => {
    const repo = await stack.emulator.createRepo({ owner, name: "skipped", installationId: 8103 });
    const skipped = await push(repo, { "slipway.yml": yml, "api/index.js": handler("built on re-run") }, "docs only [skip ci]");
    const neutral = await completed("skipped", skipped.sha, "slipway / api");
    assert.equal(neutral.conclusion, "neutral");
    assert.ok(neutral.details_url, "a skipped run links somewhere");
    assert.equal((await stack.db.query("select 1 from deployments where commit_sha = $1", [skipped.sha])).rowCount, 0);

    await stack.deliver("check_run", rerequested(repo, neutral));
    const built = await completed("skipped", skipped.sha, "slipway / api", neutral.id);
    assert.equal(built.conclusion, "success", built.output.summary ?? "");
    assert.ok(/\/deployments\/[0-9a-f-]{36}$/.test(built.details_url ?? ""));
    assert.equal(await served("api--skipped--acme"), "built on re-run");

    const invalid = await push(repo, { "slipway.yml": "functions:\n  - id: api\n    runtime: cobol-85\n" }, "break the config");
    const config = await completed("skipped", invalid.sha, "slipway / config");
    assert.equal(config.conclusion, "failure");
    assert.ok(config.details_url, "a config run links somewhere");
    await stack.deliver("check_run", rerequested(repo, config));
    const answer = await completed("skipped", invalid.sha, "slipway / config", config.id);
    assert.equal(answer.conclusion, "neutral");
    assert.match(answer.output.summary!, /a re-run reads the same `slipway.yml` \(or `appwrite.json`\) at this commit, and it is invalid/);
  });

  function rerequested(repo: RepoRecord, run: { id: number; head_sha: string; external_id: string | null; name: string }): JsonObject {
    const payload = retargetWebhookExample(loadWebhookExample("check_run", (e) => e.action === "rerequested"), repo, { sender: "maintainer", style: "default" });
    payload.check_run = { ...(payload.check_run as JsonObject), id: run.id, head_sha: run.head_sha, external_id: run.external_id ?? "", name: run.name };
    return payload;
  }
});
