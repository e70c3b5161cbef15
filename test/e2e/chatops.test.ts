// Issue 5 end to end: comment commands on a pull request and on a commit, on real parts.
// Rollback is a pointer swap with no rebuild; it pins production until promote or unpin;
// permission comes from GitHub's API; every change is in the audit log.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { commitCommentPayload, deliverWebhook, issueCommentPayload, pullRequestPayload, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "acme";
const repoName = "shop";
const slug = `api~${repoName}~${owner}`;
const yml = "functions:\n  - id: api\n    runtime: node-20\n    root: api\n    commands: \"\"\n    execute: any\n";
const handler = (version: string) => `module.exports = async (context) => context.res.text(${JSON.stringify(version)});\n`;

describe("comment commands", { timeout: 15 * 60_000 }, () => {
  let stack: SlipwayStack;
  let repo: Awaited<ReturnType<SlipwayStack["emulator"]["createRepo"]>>;
  let prNumber: number;
  const shas: Record<string, string> = {};

  before(async () => {
    stack = await startSlipwayStack();
    repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 8080 });
    stack.emulator.setPermission(owner, repoName, "maintainer", "maintain");
    stack.emulator.setPermission(owner, repoName, "reader", "read");
    stack.emulator.setPermission(owner, repoName, "triager", "triage");
    // An organisation's custom role built on write, as GitHub reports it: permission write, role_name deployer.
    stack.emulator.setPermission(owner, repoName, "deployer", "write", "deployer");
    for (const version of ["one", "two", "three"]) {
      shas[version] = await pushAndWait({ ...(version === "one" ? { "slipway.yml": yml } : {}), "api/index.js": handler(version) }, version);
    }
    await stack.emulator.commit({ owner, repo: repoName, branch: "feature", files: { "README.md": "x" }, message: "feature" });
    prNumber = (await stack.emulator.createPullRequest({ owner, repo: repoName, head: "feature", title: "A change" })).number;
  });

  after(async () => {
    if (stack) {
      assert.deepEqual(stack.emulator.validationErrors, []);
      await stack.stop();
    }
  });

  async function pushAndWait(files: Record<string, string>, message: string): Promise<string> {
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message }), secret: stack.webhookSecret });
    await stack.emulator.waitFor(
      () => stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === commit.sha && r.name === "slipway / api" && r.status === "completed"),
      { timeoutMs: 180_000, intervalMs: 200 },
    );
    return commit.sha;
  }

  async function served(): Promise<string> {
    return (await fetch(`${stack.gatewayUrl}/fn/${slug}/`)).text();
  }

  /** Posts a PR comment as `user` and returns Slipway's reply and the reactions left on the comment. */
  async function prComment(body: string, user = "maintainer", extra: { userType?: "User" | "Bot"; action?: "created" | "edited" } = {}) {
    const comment = stack.emulator.createIssueComment({ owner, repo: repoName, issueNumber: prNumber, body, user, ...(extra.userType ? { userType: extra.userType } : {}) });
    const payload = issueCommentPayload({ repo, issueNumber: prNumber, comment, ...(extra.action ? { action: extra.action } : {}) });
    await stack.deliver("issue_comment", payload);
    const reply = stack.emulator.comments(owner, repoName, prNumber).find((c) => c.id > comment.id && c.body.startsWith(`> ${body.split("\n")[0]}`));
    const reactions = stack.emulator.reactions(owner, repoName, { subject: "issue_comment", commentId: comment.id, includeDeleted: true });
    return { reply: reply?.body, live: reactions.filter((r) => !r.deleted).map((r) => r.content).sort(), all: reactions.map((r) => r.content) };
  }

  async function auditActions(): Promise<{ action: string; actor: string; via: string; from: number | null; to: number | null }[]> {
    const rows = await stack.db.query(
      `select a.action, a.actor, a.via, f.version as from, t.version as to from audit_log a
         left join deployments f on f.id = a.from_deployment_id left join deployments t on t.id = a.to_deployment_id order by a.id`,
    );
    return rows.rows;
  }

  /** The latest status of the newest production GitHub Deployment of this commit. */
  function productionState(sha: string): string | undefined {
    return stack.emulator.deployments(owner, repoName).filter((d) => d.environment === "production" && d.sha === sha).at(-1)?.statuses.at(-1)?.state;
  }

  test("/slipway rollback swaps production to the previous version without a rebuild and pins it", async () => {
    assert.equal(await served(), "three");
    const builds = (await stack.db.query("select count(*)::int as n from deployments")).rows[0].n;
    const { reply, live, all } = await prComment("/slipway rollback");
    assert.ok(reply, "Slipway replied");
    assert.match(reply!, /^> \/slipway rollback\n\n🚀 Rolled back \*\*api\*\* production: v3 → v2 in \d/);
    assert.match(reply!, /pinned/);
    assert.match(reply!, new RegExp(`/fn/${slug}/`));
    assert.deepEqual(live, ["rocket"], "👀 is replaced by 🚀");
    assert.ok(all.includes("eyes"), "👀 acknowledged the command first");
    assert.equal(await served(), "two");
    assert.equal((await stack.db.query("select count(*)::int as n from deployments")).rows[0].n, builds, "no rebuild");
    const last = (await auditActions()).at(-1)!;
    assert.deepEqual(last, { action: "rollback", actor: "maintainer", via: "comment", from: 3, to: 2 });
    // GitHub's production environment shows the version now serving, and the one replaced inactive.
    await stack.emulator.waitFor(() => (productionState(shas.two!) === "success" && productionState(shas.three!) === "inactive") || undefined, {
      timeoutMs: 15_000,
      describe: () => `production: two ${productionState(shas.two!)}, three ${productionState(shas.three!)}`,
    });
  });

  test("a pinned production ignores a push until /slipway promote", async () => {
    const sha = await pushAndWait({ "api/index.js": handler("four") }, "four");
    const run = stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === sha && r.name === "slipway / api")!;
    assert.equal(run.conclusion, "success");
    assert.match(run.output!.summary!, /pinned to v2 after a rollback/, "the check run says why it did not go live");
    assert.equal(await served(), "two");

    const { reply, live } = await prComment("/slipway promote");
    assert.match(reply!, /Promoted \*\*api\*\* production: v2 → v4/);
    assert.match(reply!, /follows pushes again/);
    assert.deepEqual(live, ["rocket"]);
    assert.equal(await served(), "four");
    const pinned = await stack.db.query("select pinned from aliases where name = 'production'");
    assert.equal(pinned.rows[0].pinned, false);
  });

  test("a user without write permission is refused, and told which permission is needed", async () => {
    const { reply, live } = await prComment("/slipway rollback v1", "reader");
    assert.match(reply!, /👎 Nothing changed: @reader has read access to [^/\s]+\/[^;\s]+; `\/slipway rollback` needs write access \(write, maintain or admin, or a custom role built on them\)\./);
    assert.deepEqual(live, ["-1"]);
    assert.equal(await served(), "four");
  });

  test("permissions as GitHub defines them: a custom role built on write may act, triage may not", async () => {
    const triage = await prComment("/slipway status", "triager");
    assert.match(triage.reply!, /@triager has triage access to [^;\s]+; `\/slipway status` needs write access/);
    const deployer = await prComment("/slipway status", "deployer");
    assert.match(deployer.reply!, /\| api \| v4 \|/, deployer.reply);
  });

  test("an unknown target, a failed deployment and the current version are refused clearly", async () => {
    assert.match((await prComment("/slipway rollback v99")).reply!, /Nothing changed: there is no v99/);
    assert.match((await prComment("/slipway rollback v4")).reply!, /Nothing changed: v4 is already serving/);
    await stack.db.query("update deployments set status = 'failed', error = 'test' where version = 1 and status = 'ready'");
    assert.match((await prComment("/slipway rollback v1")).reply!, /Nothing changed: v1 is failed; only a ready deployment can serve/);
    assert.equal(await served(), "four");
  });

  test("unknown commands get help; bots and edited comments are ignored", async () => {
    const help = await prComment("/slipway launch-rockets");
    assert.match(help.reply!, /`launch-rockets` is not a Slipway command/);
    assert.match(help.reply!, /\/slipway rollback/);
    const bot = await prComment("/slipway rollback", "ci-bot[bot]", { userType: "Bot" });
    assert.equal(bot.reply, undefined);
    assert.deepEqual(bot.all, []);
    const edited = await prComment("/slipway rollback", "maintainer", { action: "edited" });
    assert.equal(edited.reply, undefined);
    assert.equal(await served(), "four");
  });

  test("a commit comment works too: /slipway status and /slipway rollback by sha", async () => {
    const comment = await stack.emulator.createCommitComment({ owner, repo: repoName, sha: shas.three!, body: `/slipway rollback ${shas.two!.slice(0, 7)}`, user: "maintainer" });
    await stack.deliver("commit_comment", commitCommentPayload({ repo, sha: shas.three!, comment }));
    assert.equal(await served(), "two");
    const status = await stack.emulator.createCommitComment({ owner, repo: repoName, sha: shas.three!, body: "/slipway status", user: "maintainer" });
    await stack.deliver("commit_comment", commitCommentPayload({ repo, sha: shas.three!, comment: status }));
    const commitReplies = stack.emulator.commitComments(owner, repoName, shas.three!).map((c) => c.body);
    assert.ok(commitReplies.some((b) => /Rolled back \*\*api\*\* production: v4 → v2/.test(b)), commitReplies.join("\n---\n"));
    assert.ok(commitReplies.some((b) => /\| api \| v2 \| yes \|/.test(b)), "status shows v2, pinned");
  });

  test("/slipway unpin lets the next push go live", async () => {
    const { reply } = await prComment("/slipway unpin");
    assert.match(reply!, /Unpinned \*\*api\*\*: v2 keeps serving/);
    await pushAndWait({ "api/index.js": handler("five") }, "five");
    assert.equal(await served(), "five");
  });

  test("a rollback racing a push ends consistent, with a complete audit log", async () => {
    const commit = await stack.emulator.commit({ owner, repo: repoName, files: { "api/index.js": handler("six") }, message: "six" });
    const push = deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: "six" }), secret: stack.webhookSecret, deliveryId: randomUUID() });
    const [rollback] = await Promise.all([prComment("/slipway rollback v3"), push]);
    assert.match(rollback.reply!, /Rolled back \*\*api\*\* production: v\d → v3/);
    await stack.emulator.waitFor(
      () => stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === commit.sha && r.status === "completed"),
      { timeoutMs: 180_000, intervalMs: 200 },
    );
    // Whichever came first, the rollback pinned production, so v3 serves and the push waits.
    assert.equal(await served(), "three");
    const production = await stack.db.query("select d.version, a.pinned from aliases a join deployments d on d.id = a.deployment_id where a.name = 'production'");
    assert.deepEqual(production.rows[0], { version: 3, pinned: true });
    // Every swap is in the audit log, and each one starts where the previous one ended.
    const swaps = (await auditActions()).filter((a) => a.action !== "unpin");
    for (let i = 1; i < swaps.length; i++) assert.equal(swaps[i]!.from, swaps[i - 1]!.to, `audit entry ${i} continues the chain`);
    assert.equal(swaps.at(-1)!.to, 3);
    assert.ok((await auditActions()).some((a) => a.action === "unpin" && a.actor === "maintainer"));
  });

  test("/slipway help lists the commands; /slipway redeploy --no-cache builds production's commit again, through the pin", async () => {
    const help = await prComment("/slipway help");
    for (const command of ["rollback", "promote", "redeploy", "unpin", "status"]) assert.match(help.reply!, new RegExp(`/slipway ${command}`));
    assert.deepEqual(help.live, ["rocket"]);

    const before = (await stack.db.query("select max(version) as v from deployments")).rows[0].v as number;
    const { reply, live } = await prComment("/slipway Redeploy --no-cache");
    assert.match(reply!, new RegExp(`Redeploying \\*\\*api\\*\\* from \`${shas.three!.slice(0, 7)}\` as v${before + 1} without the build cache`));
    assert.deepEqual(live, ["rocket"]);
    const rebuilt = await stack.emulator.waitFor(async () => {
      const row = (await stack.db.query("select status, trigger, use_cache, check_run_id from deployments where version = $1", [before + 1])).rows[0];
      return row && row.status === "ready" ? row : undefined;
    }, { timeoutMs: 180_000, intervalMs: 250 });
    assert.equal(rebuilt.trigger, "redeploy-no-cache");
    assert.equal(rebuilt.use_cache, false);
    const run = await stack.emulator.waitFor(() => {
      const found = stack.emulator.checkRun(Number(rebuilt.check_run_id));
      return found?.status === "completed" ? found : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    assert.equal(run.head_sha, shas.three);
    assert.match(run.output.summary ?? "", /pinned/i, "the check run says production is pinned");
    assert.equal(await served(), "three", "a pinned production does not take the redeploy");
  });

  test("/slipway promote pr-<n> puts a pull request's preview build into production without rebuilding it", async () => {
    const commit = await stack.emulator.commit({ owner, repo: repoName, branch: "preview", files: { "api/index.js": handler("preview") }, message: "preview" });
    const pr = await stack.emulator.createPullRequest({ owner, repo: repoName, head: "preview" });
    await deliverWebhook({ url: stack.webhookUrl, event: "pull_request", payload: pullRequestPayload({ repo, number: pr.number, pullRequest: pr }), secret: stack.webhookSecret });
    await stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === commit.sha && r.status === "completed"), { timeoutMs: 180_000, intervalMs: 200 });
    const preview = (await stack.db.query("select id, version from deployments where commit_sha = $1", [commit.sha])).rows[0]!;
    const count = (await stack.db.query("select count(*)::int as n from deployments")).rows[0].n as number;
    const { reply } = await prComment(`/slipway promote pr-${pr.number}`);
    assert.match(reply!, new RegExp(`Promoted \\*\\*api\\*\\* production: v3 → v${preview.version}`));
    assert.equal(await served(), "preview");
    assert.equal((await stack.db.query("select count(*)::int as n from deployments")).rows[0].n, count, "no rebuild");
    const production = await stack.db.query("select deployment_id, pinned from aliases where name = 'production' and function_id = (select function_id from deployments where id = $1)", [preview.id]);
    assert.deepEqual(production.rows[0], { deployment_id: preview.id, pinned: false });
    const last = (await auditActions()).at(-1)!;
    assert.deepEqual([last.action, last.actor, last.via, last.from, last.to], ["promote", "maintainer", "comment", 3, preview.version]);
    // Built for the pull request only, it gets a production GitHub Deployment once it serves there.
    await stack.emulator.waitFor(() => (productionState(commit.sha) === "success" && productionState(shas.three!) === "inactive") || undefined, {
      timeoutMs: 15_000,
      describe: () => `production: preview ${productionState(commit.sha)}, three ${productionState(shas.three!)}`,
    });
  });

  test("a repository with several functions must name one", async () => {
    const multi = await stack.emulator.createRepo({ owner, name: "multi", installationId: 8080 });
    stack.emulator.setPermission(owner, "multi", "maintainer", "write");
    const commit = await stack.emulator.commit({
      owner,
      repo: "multi",
      files: {
        "slipway.yml": "functions:\n  - id: alpha\n    runtime: node-20\n    root: a\n    commands: \"\"\n  - id: beta\n    runtime: node-20\n    root: b\n    commands: \"\"\n",
        "a/index.js": handler("alpha"),
        "b/index.js": handler("beta"),
      },
      message: "two functions",
    });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo: multi, before: commit.before, after: commit.sha, message: "two" }), secret: stack.webhookSecret });
    await stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, "multi").filter((r) => r.status === "completed").length === 2, { timeoutMs: 180_000, intervalMs: 200 });
    await stack.emulator.commit({ owner, repo: "multi", branch: "topic", files: { "x.md": "x" }, message: "topic" });
    const pr = await stack.emulator.createPullRequest({ owner, repo: "multi", head: "topic" });
    const comment = stack.emulator.createIssueComment({ owner, repo: "multi", issueNumber: pr.number, body: "/slipway rollback", user: "maintainer" });
    await stack.deliver("issue_comment", issueCommentPayload({ repo: multi, issueNumber: pr.number, comment }));
    const reply = stack.emulator.comments(owner, "multi", pr.number).find((c) => c.id > comment.id)!;
    assert.match(reply.body, /several functions, so name one: `alpha`, `beta`\. Nothing was changed\./);
  });
});
