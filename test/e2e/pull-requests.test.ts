// Issue 4's promise, end to end on real Postgres, Redis and Docker with the GitHub
// emulator: previews per pull request (open, sync, close), one build for a push and a pull
// request of the same sha, a fast-forward merge after the preview is ready and while it
// still builds, skips by message and by path, a running build superseded by a
// newer commit, five functions in one sticky comment, a fork held until approved (by
// comment, then by button, again for each new commit), and a re-run from a check run.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import { loadWebhookExample } from "../emulator/load-webhook-example.js";
import { retargetWebhookExample } from "../emulator/retarget-webhook-example.js";
import type { JsonObject, RepoRecord } from "../emulator/emulator-types.js";
import { issueCommentPayload, pullRequestPayload, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "acme";
const marker = "<!-- slipway:pull-request-comment -->";
const packageJson = (extra: Record<string, unknown> = {}) => JSON.stringify({ name: "fn", version: "1.0.0", private: true, ...extra });
const handler = (greeting: string) => `module.exports = async (context) => context.res.json({ greeting: ${JSON.stringify(greeting)} });\n`;
const functionsYml = (ids: string[], extra = "") =>
  "functions:\n" + ids.map((id) => `  - id: ${id}\n    runtime: node-20\n    root: functions/${id}\n    commands: npm install\n    execute: any\n${extra}`).join("");
const functionFiles = (id: string, greeting: string, pkg = packageJson()) => ({ [`functions/${id}/index.js`]: handler(greeting), [`functions/${id}/package.json`]: pkg });

describe("pull requests", { timeout: 20 * 60_000 }, () => {
  let stack: SlipwayStack;

  before(async () => {
    stack = await startSlipwayStack({ env: { SLIPWAY_WORKER_CONCURRENCY: "3" } });
  });

  after(async () => {
    if (stack) {
      assert.deepEqual(stack.emulator.validationErrors, [], "every request Slipway made matches GitHub's OpenAPI description");
      assert.deepEqual(stack.emulator.unknownRoutes, []);
      await stack.stop();
    }
  });

  // Stored (202) and handled by the app's consumers before it returns.
  const deliver = (event: string, payload: unknown) => stack.deliver(event, payload);

  async function openPullRequest(repo: RepoRecord, head: string, mutate?: (payload: JsonObject) => void) {
    const pr = await stack.emulator.createPullRequest({ owner, repo: repo.name, head });
    const payload = pullRequestPayload({ repo, number: pr.number, pullRequest: pr });
    mutate?.(payload);
    const response = await deliver("pull_request", payload);
    assert.equal(response.status, 202, response.body);
    return { pr, payload };
  }

  async function synchronize(repo: RepoRecord, opened: { pr: JsonObject & { number: number }; payload: JsonObject }, before: string, after: string) {
    const payload = structuredClone(opened.payload);
    payload.action = "synchronize";
    payload.before = before;
    payload.after = after;
    (payload.pull_request as { head: { sha: string } }).head.sha = after;
    const response = await deliver("pull_request", payload);
    assert.equal(response.status, 202, response.body);
    return payload;
  }

  function completedRun(repo: string, sha: string, name: string) {
    return stack.emulator.waitFor(
      () => stack.emulator.checkRuns(owner, repo).filter((r) => r.head_sha === sha && r.name === name && r.status === "completed").at(-1),
      { timeoutMs: 5 * 60_000, intervalMs: 250 },
    );
  }

  async function get(path: string) {
    const response = await fetch(`${stack.gatewayUrl}${path}`);
    const body = await response.text();
    return { status: response.status, body };
  }

  function slipwayComments(repo: string, number: number) {
    return stack.emulator.comments(owner, repo, number).filter((c) => c.body.startsWith(marker));
  }

  function checkRunPayload(repo: RepoRecord, action: "rerequested" | "requested_action", run: { id: number; head_sha: string; external_id: string | null; name: string }, sender: string, identifier?: string) {
    const example = loadWebhookExample("check_run", (e) => e.action === action);
    const payload = retargetWebhookExample(example, repo, { sender, style: "default" });
    payload.check_run = { ...(payload.check_run as JsonObject), id: run.id, head_sha: run.head_sha, external_id: run.external_id ?? "", name: run.name };
    if (identifier) payload.requested_action = { identifier };
    return payload;
  }

  test("a pull request gets previews: opened builds what changed, synchronize replaces it, closed removes it", async () => {
    const repoName = "previews";
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 5001 });
    await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": functionsYml(["api", "docs"]), ...functionFiles("api", "api v1"), ...functionFiles("docs", "docs v1") }, message: "functions" });
    const first = await stack.emulator.commit({ owner, repo: repoName, branch: "feature", files: functionFiles("api", "api v2"), message: "change api" });
    const opened = await openPullRequest(repo, "feature");
    const number = opened.pr.number;
    const slug = `api~${repoName}~${owner}`;

    const run = await completedRun(repoName, first.sha, "slipway / api");
    assert.equal(run.conclusion, "success", run.output.summary ?? "");
    const deployment = (await stack.db.query("select id, version, trusted from deployments where commit_sha = $1", [first.sha])).rows;
    assert.equal(deployment.length, 1, "only api was built");
    const deploymentId = deployment[0].id as string;
    assert.equal(run.external_id, deploymentId);
    assert.equal(run.details_url, `${stack.appUrl}/deployments/${deploymentId}`);
    const history = stack.emulator.checkRunHistory(run.id);
    assert.equal(history[0]!.status, "queued", "queued as the webhook arrives");
    const inProgress = history.find((h) => h.status === "in_progress");
    assert.ok(inProgress && inProgress.request.started_at, "in_progress with started_at");
    assert.ok(run.output.summary!.includes(`/fn/${slug}~pr-${number}/`), "the summary has the preview URL");
    assert.ok(run.output.summary!.includes(`/d/${deploymentId}/`), "the summary has the immutable URL");
    assert.match(run.output.summary!, /\| step \| time \|/);
    assert.deepEqual(run.actions.map((a) => a.identifier), ["promote"]);

    const docs = await completedRun(repoName, first.sha, "slipway / docs");
    assert.equal(docs.conclusion, "neutral");
    assert.match(docs.output.summary!, /no path it watches changed/);

    assert.equal(JSON.parse((await get(`/fn/${slug}~pr-${number}/`)).body).greeting, "api v2");
    assert.equal(JSON.parse((await get(`/d/${deploymentId}/`)).body).greeting, "api v2");

    const ghDeployment = stack.emulator.deployments(owner, repoName).find((d) => d.environment === `preview/pr-${number}`);
    assert.ok(ghDeployment, "a GitHub Deployment in preview/pr-<n>");
    const states = ghDeployment.statuses.map((s) => s.state);
    assert.deepEqual(states.slice(0, 2), ["queued", "in_progress"]);
    const success = ghDeployment.statuses.find((s) => s.state === "success")!;
    assert.ok(String(success.environment_url).endsWith(`/fn/${slug}~pr-${number}/`));
    assert.ok(String(success.log_url).endsWith(`/deployments/${deploymentId}`));

    await stack.emulator.waitFor(() => slipwayComments(repoName, number)[0]?.body.includes("✅ ready"), { timeoutMs: 30_000 });
    let comment = slipwayComments(repoName, number)[0]!;
    assert.match(comment.body, /\| `api` \| ✅ ready \| v1/);
    assert.match(comment.body, /\| `docs` \| ➖ skipped \|/);

    // synchronize: a new commit replaces the preview; the old build keeps its own URL.
    const second = await stack.emulator.commit({ owner, repo: repoName, branch: "feature", files: functionFiles("api", "api v3"), message: "api again" });
    await synchronize(repo, opened, first.sha, second.sha);
    const rerun = await completedRun(repoName, second.sha, "slipway / api");
    assert.equal(rerun.conclusion, "success", rerun.output.summary ?? "");
    assert.equal(JSON.parse((await get(`/fn/${slug}~pr-${number}/`)).body).greeting, "api v3");
    assert.equal(JSON.parse((await get(`/d/${deploymentId}/`)).body).greeting, "api v2", "the immutable URL still serves its own build");
    await stack.emulator.waitFor(() => slipwayComments(repoName, number)[0]?.body.includes("v2 ("), { timeoutMs: 30_000 });
    assert.equal(slipwayComments(repoName, number).length, 1, "one sticky comment, edited in place");

    // closed: the alias goes, its containers stop, GitHub Deployments become inactive.
    const closed = structuredClone(opened.payload);
    closed.action = "closed";
    (closed.pull_request as { head: { sha: string }; state: string }).head.sha = second.sha;
    (closed.pull_request as { state: string }).state = "closed";
    assert.equal((await deliver("pull_request", closed)).status, 202);
    await stack.emulator.waitFor(async () => (await get(`/fn/${slug}~pr-${number}/`)).status === 404, { timeoutMs: 30_000 });
    const previewDeployments = stack.emulator.deployments(owner, repoName).filter((d) => d.environment === `preview/pr-${number}`);
    assert.ok(previewDeployments.length >= 2);
    for (const d of previewDeployments) assert.equal(d.statuses.at(-1)!.state, "inactive");
    // The sticky comment is sent by the reporting outbox, a moment after the close is handled.
    comment = await stack.emulator.waitFor(() => slipwayComments(repoName, number).find((c) => /closed: its previews were removed/.test(c.body)), { timeoutMs: 30_000 });
    assert.equal(slipwayComments(repoName, number).length, 1);
    const ids = (await stack.db.query("select id from deployments where commit_sha = any($1)", [[first.sha, second.sha]])).rows.map((r) => r.id as string);
    const running = await new Docker().listContainers({ filters: { label: ids.map((id) => `slipway.deployment=${id}`) } });
    assert.equal(running.filter((c) => ids.includes(c.Labels["slipway.deployment"] ?? "")).length, 0, "the preview's containers were stopped");
  });

  test("a push and a pull request for the same sha build it once and serve both aliases", async () => {
    const repoName = "double";
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 5002 });
    await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": functionsYml(["api"], "    branch: release\n"), ...functionFiles("api", "v1") }, message: "functions" });
    const commit = await stack.emulator.commit({ owner, repo: repoName, branch: "release", files: functionFiles("api", "release build"), message: "release" });
    const pr = await stack.emulator.createPullRequest({ owner, repo: repoName, head: "release" });
    const [push, pull] = await Promise.all([
      deliver("push", pushPayload({ repo, before: commit.before, after: commit.sha, ref: "refs/heads/release", message: "release" })),
      deliver("pull_request", pullRequestPayload({ repo, number: pr.number, pullRequest: pr })),
    ]);
    assert.equal(push.status, 202);
    assert.equal(pull.status, 202);
    const run = await completedRun(repoName, commit.sha, "slipway / api");
    assert.equal(run.conclusion, "success", run.output.summary ?? "");
    const rows = await stack.db.query("select id from deployments where commit_sha = $1", [commit.sha]);
    assert.equal(rows.rowCount, 1, "built once");
    const targets = await stack.db.query("select alias from deployment_targets where deployment_id = $1 order by alias", [rows.rows[0].id]);
    assert.deepEqual(targets.rows.map((r) => r.alias), [`pr-${pr.number}`, "production"].sort());
    assert.equal(stack.emulator.checkRuns(owner, repoName).filter((r) => r.head_sha === commit.sha && r.name === "slipway / api").length, 1, "one check run");
    const slug = `api~${repoName}~${owner}`;
    await stack.emulator.waitFor(async () => (await get(`/fn/${slug}~pr-${pr.number}/`)).status === 200, { timeoutMs: 60_000 });
    assert.equal(JSON.parse((await get(`/fn/${slug}/`)).body).greeting, "release build");
    assert.equal(JSON.parse((await get(`/fn/${slug}~pr-${pr.number}/`)).body).greeting, "release build");
  });

  // Issue 14: GitHub does not order deliveries, and a fast-forward merge pushes a sha that
  // was already built for the pull request. Production follows the production branch
  // whichever webhook made the build, and whenever the push comes.
  async function productionServes(repoName: string, sha: string, greeting: string) {
    const slug = `api~${repoName}~${owner}`;
    await stack.emulator.waitFor(async () => {
      const served = await get(`/fn/${slug}/`);
      return served.status === 200 && JSON.parse(served.body).greeting === greeting ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100, message: `production serves ${greeting}` });
    const rows = await stack.db.query("select id from deployments where commit_sha = $1", [sha]);
    assert.equal(rows.rowCount, 1, "built once, for the pull request, and served in production without a rebuild");
    await stack.emulator.waitFor(
      () => stack.emulator.deployments(owner, repoName).some((d) => d.environment === "production" && d.sha === sha && d.statuses.some((s) => s.state === "success")) || undefined,
      { timeoutMs: 30_000, message: "a successful production GitHub Deployment" },
    );
    const run = await stack.emulator.waitFor(
      () => stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === sha && r.name === "slipway / api" && r.status === "completed" && JSON.stringify(r.output).includes(`/fn/${slug}/`)),
      { timeoutMs: 30_000, message: "the check run links production" },
    );
    assert.equal(run.conclusion, "success");
  }

  async function repositoryWithPullRequest(repoName: string, installationId: number) {
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId });
    const first = await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": functionsYml(["api"]), ...functionFiles("api", "main v1") }, message: "functions" });
    await deliver("push", pushPayload({ repo, before: first.before, after: first.sha, message: "functions" }));
    await productionServes(repoName, first.sha, "main v1");
    const feature = await stack.emulator.commit({ owner, repo: repoName, branch: "feature", files: functionFiles("api", "feature v2"), message: "feature" });
    return { repo, feature };
  }

  test("fast-forward merge after the preview is ready: production serves the pull request's build", async () => {
    const repoName = "fastforward";
    const { repo, feature } = await repositoryWithPullRequest(repoName, 5011);
    const { pr } = await openPullRequest(repo, "feature");
    const preview = await completedRun(repoName, feature.sha, "slipway / api");
    assert.equal(preview.conclusion, "success", preview.output.summary ?? "");
    assert.equal(JSON.parse((await get(`/fn/api~${repoName}~${owner}~pr-${pr.number}/`)).body).greeting, "feature v2");
    const merged = await stack.emulator.fastForward({ owner, repo: repoName, branch: "main", to: feature.sha });
    await deliver("push", pushPayload({ repo, before: merged.before, after: merged.after, message: "feature" }));
    await productionServes(repoName, feature.sha, "feature v2");
  });

  test("the pull request's webhook first and the push while its build still runs: production serves it too", async () => {
    const repoName = "pushlater";
    const { repo, feature } = await repositoryWithPullRequest(repoName, 5012);
    await openPullRequest(repo, "feature");
    // The push of the same sha (a fast-forward merge) arrives before the build is done. The
    // build (a container running npm install) takes seconds and the pull request's webhook
    // was answered only once it was queued, so this precondition is checked, not assumed;
    // a busier machine only makes the build slower.
    const merged = await stack.emulator.fastForward({ owner, repo: repoName, branch: "main", to: feature.sha });
    const [row] = (await stack.db.query<{ status: string }>("select status from deployments where commit_sha = $1", [feature.sha])).rows;
    assert.ok(row && row.status !== "ready", `the pull request's build is still ${row?.status ?? "missing"} when the push comes`);
    await deliver("push", pushPayload({ repo, before: merged.before, after: merged.after, message: "feature" }));
    await productionServes(repoName, feature.sha, "feature v2");
  });

  test("[skip ci] skips; a newer commit cancels the running build, which links to it; a re-run rebuilds", async () => {
    const repoName = "supersede";
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 5003 });
    await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": functionsYml(["api"]), ...functionFiles("api", "v1") }, message: "functions" });
    const slow = await stack.emulator.commit({
      owner, repo: repoName, branch: "slow", message: "slow build",
      files: functionFiles("api", "slow", packageJson({ scripts: { postinstall: "sleep 60" } })),
    });
    const opened = await openPullRequest(repo, "slow");
    const slowId = await stack.emulator.waitFor(
      async () => (await stack.db.query("select id from deployments where commit_sha = $1 and status = 'building'", [slow.sha])).rows[0]?.id as string | undefined,
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    await stack.emulator.waitFor(async () => (await new Docker().listContainers({ filters: { label: [`slipway.deployment=${slowId}`] } })).length > 0, { timeoutMs: 60_000, intervalMs: 200 });

    const fast = await stack.emulator.commit({ owner, repo: repoName, branch: "slow", files: functionFiles("api", "fast"), message: "fast build" });
    await synchronize(repo, opened, slow.sha, fast.sha);
    const cancelled = await completedRun(repoName, slow.sha, "slipway / api");
    assert.equal(cancelled.conclusion, "cancelled");
    const fastId = await stack.emulator.waitFor(async () => (await stack.db.query("select id from deployments where commit_sha = $1", [fast.sha])).rows[0]?.id as string | undefined);
    assert.match(cancelled.output.summary!, /superseded by v2/);
    assert.ok(cancelled.output.summary!.includes(`/deployments/${fastId}`), "the cancelled run links to the newer build");
    await stack.emulator.waitFor(async () => (await new Docker().listContainers({ all: true, filters: { label: [`slipway.deployment=${slowId}`] } })).length === 0, { timeoutMs: 15_000, intervalMs: 200 });
    const state = await stack.db.query("select status, superseded_by from deployments where id = $1", [slowId]);
    assert.deepEqual(state.rows[0], { status: "cancelled", superseded_by: fastId });
    const audit = await stack.db.query("select action, via, from_deployment_id, to_deployment_id from audit_log where action = 'cancel'");
    assert.deepEqual(audit.rows, [{ action: "cancel", via: "push", from_deployment_id: slowId, to_deployment_id: fastId }]);
    const fastRun = await completedRun(repoName, fast.sha, "slipway / api");
    assert.equal(fastRun.conclusion, "success", fastRun.output.summary ?? "");

    const skipped = await stack.emulator.commit({ owner, repo: repoName, branch: "slow", files: functionFiles("api", "not built"), message: "wip [skip ci]" });
    await synchronize(repo, opened, fast.sha, skipped.sha);
    const skipRun = await completedRun(repoName, skipped.sha, "slipway / api");
    assert.equal(skipRun.conclusion, "neutral");
    assert.match(skipRun.output.summary!, /\[skip ci\]/);
    assert.equal((await stack.db.query("select 1 from deployments where commit_sha = $1", [skipped.sha])).rowCount, 0);

    // Re-run the fast build from its check run: a new version of the same commit.
    await synchronize(repo, opened, skipped.sha, fast.sha); // the PR head is the fast commit again (a force-push back)
    const response = await deliver("check_run", checkRunPayload(repo, "rerequested", fastRun, owner));
    assert.equal(response.status, 202, response.body);
    const rebuilt = await stack.emulator.waitFor(
      async () => (await stack.db.query("select id, version, status from deployments where commit_sha = $1 and trigger = 'rerun' and status = 'ready'", [fast.sha])).rows[0],
      { timeoutMs: 5 * 60_000, intervalMs: 250 },
    );
    assert.ok(rebuilt.version > 2);
    const rerunRun = await stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, repoName).find((r) => r.external_id === rebuilt.id && r.status === "completed"), { timeoutMs: 60_000 });
    assert.equal(rerunRun.conclusion, "success");
  });

  test("five functions finishing at once all end up in the one sticky comment", async () => {
    const repoName = "five";
    const ids = ["f1", "f2", "f3", "f4", "f5"];
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 5004 });
    await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": functionsYml(ids), ...Object.assign({}, ...ids.map((id) => functionFiles(id, `${id} v1`))) }, message: "five" });
    const commit = await stack.emulator.commit({ owner, repo: repoName, branch: "all", files: Object.assign({}, ...ids.map((id) => functionFiles(id, `${id} v2`))), message: "change all" });
    const { pr } = await openPullRequest(repo, "all");
    for (const id of ids) assert.equal((await completedRun(repoName, commit.sha, `slipway / ${id}`)).conclusion, "success");
    await stack.emulator.waitFor(() => (slipwayComments(repoName, pr.number)[0]?.body.match(/✅ ready/g) ?? []).length === 5, { timeoutMs: 30_000 });
    const comments = slipwayComments(repoName, pr.number);
    assert.equal(comments.length, 1);
    for (const id of ids) assert.match(comments[0]!.body, new RegExp(`\\| \`${id}\` \\| ✅ ready \\| v1 .*~pr-${pr.number}/`));
  });

  test("a fork pull request waits for a maintainer's approval of each commit", async () => {
    const repoName = "forked";
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 5005 });
    await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": functionsYml(["api"]), ...functionFiles("api", "v1") }, message: "functions" });
    const first = await stack.emulator.commit({ owner, repo: repoName, branch: "mallory-patch", files: functionFiles("api", "from the fork"), message: "fork change" });
    const asFork = (payload: JsonObject) => {
      const pull = payload.pull_request as { head: { repo: JsonObject; label: string }; user: JsonObject };
      pull.head.repo = { ...pull.head.repo, id: 987654, full_name: `mallory/${repoName}`, fork: true, owner: { ...(pull.head.repo.owner as JsonObject), login: "mallory", id: 4242 } };
      pull.head.label = "mallory:mallory-patch";
    };
    const opened = await openPullRequest(repo, "mallory-patch", asFork);
    const number = opened.pr.number;
    // GitHub never reopens a completed run, so the waiting run stays open until it is the build's.
    const waitingRun = (sha: string) =>
      stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === sha && r.name === "slipway / api" && r.status === "queued"), { timeoutMs: 30_000 });
    const runsOf = (sha: string) => stack.emulator.checkRuns(owner, repoName).filter((r) => r.head_sha === sha && r.name === "slipway / api");
    const waiting = await waitingRun(first.sha);
    assert.equal(waiting.output.title, "Waiting for approval to build fork code");
    assert.match(waiting.output.summary!, /write/);
    assert.ok(waiting.details_url, "every run links somewhere");
    assert.deepEqual(waiting.actions.map((a) => a.identifier), ["approve"]);
    assert.equal((await stack.db.query("select 1 from deployments where commit_sha = $1", [first.sha])).rowCount, 0, "no build before approval");

    const comment = async (user: string, body: string) => {
      const created = stack.emulator.createIssueComment({ owner, repo: repoName, issueNumber: number, body, user });
      assert.equal((await deliver("issue_comment", issueCommentPayload({ repo, issueNumber: number, comment: created }))).status, 202);
      return created;
    };
    stack.emulator.setPermission(owner, repoName, "mallory", "read");
    await comment("mallory", "/slipway approve");
    await stack.emulator.waitFor(() => stack.emulator.comments(owner, repoName, number).some((c) => c.body.includes("Nothing changed")), { timeoutMs: 30_000 });
    assert.equal((await stack.db.query("select 1 from deployments where commit_sha = $1", [first.sha])).rowCount, 0, "a reader cannot approve");

    stack.emulator.setPermission(owner, repoName, "maintainer", "write");
    await comment("maintainer", "/slipway approve");
    const built = await stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === first.sha && r.conclusion === "success"), { timeoutMs: 5 * 60_000, intervalMs: 250 });
    assert.equal(built.id, waiting.id, "the waiting run became the build's run");
    assert.equal(runsOf(first.sha).length, 1, "one check run for the function at this commit");
    const row = await stack.db.query("select trusted from deployments where commit_sha = $1", [first.sha]);
    assert.deepEqual(row.rows, [{ trusted: false }], "fork builds are untrusted (no secrets)");

    // A new commit needs a new approval, here with the check run's button.
    const second = await stack.emulator.commit({ owner, repo: repoName, branch: "mallory-patch", files: functionFiles("api", "second fork commit"), message: "more" });
    await synchronize(repo, opened, first.sha, second.sha);
    const waitingAgain = await waitingRun(second.sha);
    assert.match(waitingAgain.output.summary!, /needs its own approval/);
    assert.equal((await stack.db.query("select 1 from deployments where commit_sha = $1", [second.sha])).rowCount, 0);
    // A reader's press changes nothing and is answered where they see it: a comment that mentions them.
    const refused = await deliver("check_run", checkRunPayload(repo, "requested_action", waitingAgain, "mallory", "approve"));
    assert.equal(refused.status, 202, refused.body);
    const answer = await stack.emulator.waitFor(() => stack.emulator.commitComments(owner, repoName, second.sha).find((c) => c.body.startsWith("@mallory")), { timeoutMs: 30_000 });
    assert.match(answer.body, /^@mallory you pressed \*\*approve\*\* on `slipway \/ api`\. Nothing changed: @mallory has read access to [^;\s]+; the \*\*approve\*\* button needs write access/);
    assert.equal((await stack.db.query("select 1 from deployments where commit_sha = $1", [second.sha])).rowCount, 0, "a reader's press builds nothing");
    const press = await deliver("check_run", checkRunPayload(repo, "requested_action", waitingAgain, "maintainer", "approve"));
    assert.equal(press.status, 202, press.body);
    const builtAgain = await stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === second.sha && r.conclusion === "success"), { timeoutMs: 5 * 60_000, intervalMs: 250 });
    assert.equal(builtAgain.id, waitingAgain.id);
    assert.equal(runsOf(second.sha).length, 1);

    // A commit still waiting when a newer one arrives is closed, saying why.
    const third = await stack.emulator.commit({ owner, repo: repoName, branch: "mallory-patch", files: functionFiles("api", "third fork commit"), message: "third" });
    await synchronize(repo, opened, second.sha, third.sha);
    const waitingThird = await waitingRun(third.sha);
    const fourth = await stack.emulator.commit({ owner, repo: repoName, branch: "mallory-patch", files: functionFiles("api", "fourth fork commit"), message: "fourth" });
    await synchronize(repo, opened, third.sha, fourth.sha);
    const closed = stack.emulator.checkRun(waitingThird.id)!;
    assert.equal(closed.conclusion, "skipped");
    assert.match(closed.output.summary!, /a newer commit \(`[0-9a-f]{7}`\) was pushed to #\d+ before this one was approved/);
    const slug = `api~${repoName}~${owner}`;
    assert.equal(JSON.parse((await get(`/fn/${slug}~pr-${number}/`)).body).greeting, "second fork commit");
  });
});
