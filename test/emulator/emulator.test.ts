// The GitHub emulator that integration tests run Slipway against: app JWT → installation
// token, token-guarded REST validated against GitHub's OpenAPI description, check runs
// with history, smart-HTTP git with header auth, compare, and signed webhooks built from
// GitHub's real example payloads.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { createAppAuth } from "@octokit/auth-app";
import { Octokit } from "@octokit/rest";
import { verify } from "@octokit/webhooks-methods";
import { SignJWT } from "jose";
import { commitCommentPayload } from "./commit-comment-payload.js";
import { createOpenApiValidator, type OpenApiValidator } from "./create-openapi-validator.js";
import { deliverWebhook } from "./deliver-webhook.js";
import type { RepoRecord } from "./emulator-types.js";
import { issueCommentPayload } from "./issue-comment-payload.js";
import { pullRequestPayload } from "./pull-request-payload.js";
import { pushPayload } from "./push-payload.js";
import { signWebhook } from "./sign-webhook.js";
import { startGitHubEmulator, type GitHubEmulator } from "./start-github-emulator.js";

const execFileAsync = promisify(execFile);
const appId = 31337;
const installationId = 4242;
const owner = "acme";
const name = "edge-functions";

interface HttpFailure {
  status: number;
  message: string;
  response?: { data: { message?: string; errors?: Array<{ field?: string; code?: string }>; documentation_url?: string } };
}

async function failure(promise: Promise<unknown>): Promise<HttpFailure> {
  try {
    await promise;
  } catch (error) {
    return error as HttpFailure;
  }
  assert.fail("expected the request to fail");
}

function quietOctokit(options: ConstructorParameters<typeof Octokit>[0]): Octokit {
  return new Octokit({ ...options, log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} } });
}

async function appJwt(key: KeyObject, claims: { iss?: string | number; iat?: number; exp?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: "RS256" })
    .setIssuer(String(claims.iss ?? appId))
    .setIssuedAt(claims.iat ?? now - 30)
    .setExpirationTime(claims.exp ?? now + 540)
    .sign(key);
}

/** Runs git with no user/system config, no prompts; resolves with output or rejects with stderr. */
async function git(args: string[], cwd?: string): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync("git", args, {
    cwd,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: cwd ?? tmpdir(),
      GIT_TERMINAL_PROMPT: "0",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
    },
  });
}

describe("GitHub emulator", () => {
  let emulator: GitHubEmulator;
  let validator: OpenApiValidator;
  let repo: RepoRecord;
  let privateKey: KeyObject;
  let token: string;
  let octokit: Octokit;
  let first: Awaited<ReturnType<GitHubEmulator["commit"]>>;
  let second: Awaited<ReturnType<GitHubEmulator["commit"]>>;
  const work: string[] = [];

  before(async () => {
    const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
    privateKey = keys.privateKey;
    const publicKey = keys.publicKey.export({ type: "spki", format: "pem" }).toString();
    emulator = await startGitHubEmulator({ appId, publicKey });
    validator = await createOpenApiValidator();
    repo = await emulator.createRepo({ owner, name, installationId, private: true });
    first = await emulator.commit({
      owner,
      repo: name,
      files: { "slipway.yml": "functions: []\n", "functions/hello/index.js": 'module.exports = () => "v1";\n', "README.md": "# edge\n" },
      message: "first",
    });
    second = await emulator.commit({
      owner,
      repo: name,
      files: { "functions/hello/index.js": 'module.exports = () => "v2";\n', "README.md": null, "docs/guide.md": "guide\n" },
      message: "second",
    });
  });

  after(async () => {
    await emulator?.stop();
    await Promise.all(work.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  test("commit() writes onto the bare repository and reports before/after", () => {
    assert.match(first.sha, /^[0-9a-f]{40}$/);
    assert.equal(first.before, "0".repeat(40), "a new branch has 40 zeros as before");
    assert.equal(second.before, first.sha);
    assert.deepEqual(second.parents, [first.sha]);
    assert.deepEqual(first.added.sort(), ["README.md", "functions/hello/index.js", "slipway.yml"]);
    assert.deepEqual(second.added, ["docs/guide.md"]);
    assert.deepEqual(second.modified, ["functions/hello/index.js"]);
    assert.deepEqual(second.removed, ["README.md"]);
    assert.equal(repo.clone_url, emulator.gitUrl(owner, name));
    assert.equal(repo.full_name, `${owner}/${name}`);
    assert.equal(repo.default_branch, "main");
  });

  test("a JWT signed with the wrong key gets 401; a valid one gets an installation token", async () => {
    const wrongKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const route = "POST /app/installations/{installation_id}/access_tokens";
    const bare = quietOctokit({ baseUrl: emulator.apiUrl });

    const wrong = await failure(bare.request(route, { installation_id: installationId, headers: { authorization: `Bearer ${await appJwt(wrongKey)}` } }));
    assert.equal(wrong.status, 401);
    assert.equal(wrong.response?.data.message, "A JSON web token could not be decoded");

    const missing = await failure(bare.request(route, { installation_id: installationId }));
    assert.equal(missing.status, 401);

    const now = Math.floor(Date.now() / 1000);
    const expired = await failure(
      bare.request(route, { installation_id: installationId, headers: { authorization: `Bearer ${await appJwt(privateKey, { iat: now - 1200, exp: now - 600 })}` } }),
    );
    assert.equal(expired.status, 401);
    assert.match(expired.response?.data.message ?? "", /'exp'/);

    const tooLong = await failure(
      bare.request(route, { installation_id: installationId, headers: { authorization: `Bearer ${await appJwt(privateKey, { iat: now, exp: now + 3600 })}` } }),
    );
    assert.equal(tooLong.status, 401);
    assert.match(tooLong.response?.data.message ?? "", /too far in the future/);

    const otherApp = await failure(
      bare.request(route, { installation_id: installationId, headers: { authorization: `Bearer ${await appJwt(privateKey, { iss: appId + 1 })}` } }),
    );
    assert.equal(otherApp.status, 401);

    const unknownInstallation = await failure(
      bare.request(route, { installation_id: 999, headers: { authorization: `Bearer ${await appJwt(privateKey)}` } }),
    );
    assert.equal(unknownInstallation.status, 404);

    const response = await bare.request(route, { installation_id: installationId, headers: { authorization: `Bearer ${await appJwt(privateKey, { iss: appId })}` } });
    assert.equal(response.status, 201);
    assert.match(response.data.token, /^ghs_[A-Za-z0-9]{36}$/);
    const lifetime = new Date(response.data.expires_at).getTime() - Date.now();
    assert.ok(lifetime > 59 * 60_000 && lifetime <= 60 * 60_000, `token lives one hour (got ${lifetime} ms)`);
    assert.equal(response.data.repository_selection, "all");
    assert.equal(response.data.permissions?.checks, "write");
    const issued = emulator.tokensIssued.at(-1);
    assert.equal(issued?.token, response.data.token);
    assert.equal(issued?.installationId, installationId);
    token = response.data.token;
    octokit = quietOctokit({ baseUrl: emulator.apiUrl, auth: token });

    const app = await bare.request("GET /app", { headers: { authorization: `Bearer ${await appJwt(privateKey)}` } });
    assert.equal(app.data?.id, appId);
    const installation = await bare.request("GET /repos/{owner}/{repo}/installation", {
      owner,
      repo: name,
      headers: { authorization: `Bearer ${await appJwt(privateKey)}` },
    });
    assert.equal(installation.data.id, installationId);
    assert.equal(installation.data.account && "login" in installation.data.account ? installation.data.account.login : null, owner);
  });

  test("@octokit/auth-app (Slipway's auth strategy) obtains and uses a token", async () => {
    const client = quietOctokit({
      baseUrl: emulator.apiUrl,
      authStrategy: createAppAuth,
      auth: { appId, privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), installationId },
    });
    const { data } = await client.rest.repos.get({ owner, repo: name });
    assert.equal(data.id, repo.id);
    const tokenRequest = emulator.requests.filter((r) => r.operationId === "apps/create-installation-access-token").at(-1);
    assert.equal(tokenRequest?.status, 201);
    assert.equal(tokenRequest?.auth, "jwt");
  });

  test("REST calls work with the installation token and are refused without it", async () => {
    const { data } = await octokit.rest.repos.get({ owner, repo: name });
    assert.equal(data.full_name, `${owner}/${name}`);
    assert.equal(data.private, true);
    assert.equal(data.clone_url, emulator.gitUrl(owner, name));
    assert.equal(data.default_branch, "main");

    const anonymous = await failure(quietOctokit({ baseUrl: emulator.apiUrl }).rest.repos.get({ owner, repo: name }));
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.response?.data.message, "Requires authentication");

    const bogus = await failure(quietOctokit({ baseUrl: emulator.apiUrl, auth: "ghs_notarealtoken" }).rest.repos.get({ owner, repo: name }));
    assert.equal(bogus.status, 401);
    assert.equal(bogus.response?.data.message, "Bad credentials");

    await emulator.createRepo({ owner: "someone-else", name: "private-stuff", installationId: 5151, private: true });
    const foreign = await failure(octokit.rest.repos.get({ owner: "someone-else", repo: "private-stuff" }));
    assert.equal(foreign.status, 404, "another installation's repository does not exist for this token");

    emulator.advanceClock(61 * 60_000);
    const expired = await failure(octokit.rest.repos.get({ owner, repo: name }));
    emulator.advanceClock(-61 * 60_000);
    assert.equal(expired.status, 401, "installation tokens expire after an hour");
    assert.equal((await octokit.rest.repos.get({ owner, repo: name })).status, 200);

    const revoked = emulator.createInstallationToken(installationId);
    emulator.revokeToken(revoked);
    const afterRevoke = await failure(quietOctokit({ baseUrl: emulator.apiUrl, auth: revoked }).rest.repos.get({ owner, repo: name }));
    assert.equal(afterRevoke.status, 401);
  });

  test("contents of a committed file at a sha, directories, raw media type and 404", async () => {
    const atFirst = await octokit.rest.repos.getContent({ owner, repo: name, path: "functions/hello/index.js", ref: first.sha });
    assert.ok(!Array.isArray(atFirst.data) && atFirst.data.type === "file" && "content" in atFirst.data);
    assert.equal(atFirst.data.encoding, "base64");
    assert.equal(Buffer.from(atFirst.data.content, "base64").toString("utf8"), 'module.exports = () => "v1";\n');
    assert.equal(atFirst.data.path, "functions/hello/index.js");
    assert.equal(atFirst.data.name, "index.js");
    assert.equal(atFirst.data.size, 'module.exports = () => "v1";\n'.length);
    const content = 'module.exports = () => "v1";\n';
    const blobSha = createHash("sha1").update(`blob ${Buffer.byteLength(content)}\0${content}`).digest("hex");
    assert.equal(atFirst.data.sha, blobSha, "sha is the git blob sha");

    const atHead = await octokit.rest.repos.getContent({ owner, repo: name, path: "functions/hello/index.js" });
    assert.ok(!Array.isArray(atHead.data) && "content" in atHead.data);
    assert.match(Buffer.from(atHead.data.content, "base64").toString("utf8"), /v2/, "no ref = default branch head");

    const readme = await failure(octokit.rest.repos.getContent({ owner, repo: name, path: "README.md", ref: second.sha }));
    assert.equal(readme.status, 404);
    assert.equal(readme.response?.data.message, "Not Found");

    const dir = await octokit.rest.repos.getContent({ owner, repo: name, path: "functions", ref: first.sha });
    assert.ok(Array.isArray(dir.data));
    assert.deepEqual(dir.data.map((e) => [e.name, e.type]), [["hello", "dir"]]);

    const root = await octokit.rest.repos.getContent({ owner, repo: name, path: "", ref: second.sha });
    assert.ok(Array.isArray(root.data));
    assert.deepEqual(root.data.map((e) => e.path).sort(), ["docs", "functions", "slipway.yml"]);

    const raw = await octokit.rest.repos.getContent({ owner, repo: name, path: "slipway.yml", ref: first.sha, mediaType: { format: "raw" } });
    assert.equal(String(raw.data), "functions: []\n");

    const noRef = await failure(octokit.rest.repos.getContent({ owner, repo: name, path: "slipway.yml", ref: "no-such-branch" }));
    assert.equal(noRef.status, 404);
  });

  test("GET commit returns the files it changed", async () => {
    const { data } = await octokit.rest.repos.getCommit({ owner, repo: name, ref: second.sha });
    assert.equal(data.sha, second.sha);
    assert.equal(data.commit.message, "second");
    assert.equal(data.parents[0]?.sha, first.sha);
    const files = Object.fromEntries((data.files ?? []).map((f) => [f.filename, f.status]));
    assert.deepEqual(files, { "README.md": "removed", "docs/guide.md": "added", "functions/hello/index.js": "modified" });
    const byBranch = await octokit.rest.repos.getCommit({ owner, repo: name, ref: "main" });
    assert.equal(byBranch.data.sha, second.sha);
    const missing = await failure(octokit.rest.repos.getCommit({ owner, repo: name, ref: "f".repeat(40) }));
    assert.equal(missing.status, 422);
  });

  test("a check run with an invalid field is rejected with 422 and recorded", async () => {
    const before = emulator.validationErrors.length;
    const bogus = await failure(
      octokit.rest.checks.create({ owner, repo: name, head_sha: second.sha, name: "slipway / hello", status: "bogus" as "queued" }),
    );
    assert.equal(bogus.status, 422);
    assert.equal(bogus.response?.data.message, "Invalid request.");
    assert.ok(bogus.response?.data.errors?.some((e) => e.field === "status" && e.code === "invalid"));
    assert.match(bogus.response?.data.documentation_url ?? "", /docs\.github\.com/);

    const recorded = emulator.validationErrors.slice(before);
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0]?.operationId, "checks/create");
    assert.equal(recorded[0]?.method, "POST");
    assert.equal(recorded[0]?.path, `/repos/${owner}/${name}/check-runs`);
    assert.equal(recorded[0]?.kind, "schema");
    assert.ok(recorded[0]?.errors.some((e) => e.instancePath === "/status" && e.keyword === "enum"));

    const { data: run } = await octokit.rest.checks.create({ owner, repo: name, head_sha: second.sha, name: "lint" });
    const conclusion = await failure(
      octokit.rest.checks.update({ owner, repo: name, check_run_id: run.id, conclusion: "great" as "success" }),
    );
    assert.equal(conclusion.status, 422);
    const completedWithout = await failure(octokit.rest.checks.update({ owner, repo: name, check_run_id: run.id, status: "completed" }));
    assert.equal(completedWithout.status, 422, "status completed requires a conclusion");

    const tooLong = await failure(
      octokit.rest.checks.update({ owner, repo: name, check_run_id: run.id, output: { title: "t", summary: "x".repeat(65_536) } }),
    );
    assert.equal(tooLong.status, 422);
    const annotations = Array.from({ length: 51 }, (_, i) => ({
      path: "functions/hello/index.js",
      start_line: i + 1,
      end_line: i + 1,
      annotation_level: "warning" as const,
      message: `warning ${i}`,
    }));
    const tooMany = await failure(
      octokit.rest.checks.update({ owner, repo: name, check_run_id: run.id, output: { title: "t", summary: "s", annotations } }),
    );
    assert.equal(tooMany.status, 422);
    const kinds = emulator.validationErrors.slice(before + 1).map((v) => v.kind);
    assert.deepEqual(kinds.filter((k) => k === "limit").length, 2, "both GitHub limits were recorded as such");
    assert.equal(emulator.checkRun(run.id)?.status, "queued", "rejected updates changed nothing");

    emulator.validationErrors.splice(before);
  });

  test("a valid create and updates are kept with their history", async () => {
    const { data: created } = await octokit.rest.checks.create({
      owner,
      repo: name,
      head_sha: second.sha,
      name: "slipway / hello",
      external_id: "deployment-1",
      status: "queued",
      output: { title: "Queued", summary: "Waiting for a worker" },
    });
    assert.equal(created.status, "queued");
    assert.equal(created.head_sha, second.sha);
    assert.ok(created.id > 2 ** 31, "check run ids exceed 32 bits, as on GitHub");
    await octokit.rest.checks.update({ owner, repo: name, check_run_id: created.id, status: "in_progress", output: { title: "Building", summary: "npm install" } });
    const { data: done } = await octokit.rest.checks.update({
      owner,
      repo: name,
      check_run_id: created.id,
      conclusion: "success",
      completed_at: new Date().toISOString(),
      output: {
        title: "v2 is live",
        summary: "Deployed",
        text: "log tail",
        annotations: [{ path: "functions/hello/index.js", start_line: 1, end_line: 1, annotation_level: "notice", message: "ok" }],
      },
    });
    assert.equal(done.status, "completed", "a conclusion completes the run");
    assert.equal(done.conclusion, "success");
    assert.equal(done.output.annotations_count, 1);

    const state = emulator.checkRuns(owner, name, { name: "slipway / hello" }).at(-1);
    assert.equal(state?.id, created.id);
    assert.equal(state?.output.title, "v2 is live");
    assert.equal(state?.external_id, "deployment-1");
    assert.equal(state?.annotations.length, 1);
    assert.ok(state?.completed_at);

    const history = emulator.checkRunHistory(created.id);
    assert.deepEqual(history.map((h) => [h.action, h.status]), [
      ["created", "queued"],
      ["updated", "in_progress"],
      ["updated", "completed"],
    ]);
    assert.equal(history[1]?.output.title, "Building");
    assert.equal(history[1]?.request.status, "in_progress");

    const { data: fetched } = await octokit.rest.checks.get({ owner, repo: name, check_run_id: created.id });
    assert.equal(fetched.conclusion, "success");
    const { data: list } = await octokit.rest.checks.listForRef({ owner, repo: name, ref: "main", check_name: "slipway / hello" });
    assert.equal(list.total_count, 1);
    assert.equal(list.check_runs[0]?.id, created.id);
  });

  test("git clone and git fetch --depth 1 <sha> work with the token in a header and fail without", async () => {
    const basic = Buffer.from(`x-access-token:${token}`).toString("base64");
    const header = `http.extraHeader=Authorization: Basic ${basic}`;
    const url = emulator.gitUrl(owner, name);
    const dir = await mkdtemp(join(tmpdir(), "emulator-git-"));
    work.push(dir);

    await git(["-c", header, "clone", "--quiet", url, join(dir, "clone")]);
    assert.equal(await readFile(join(dir, "clone", "functions/hello/index.js"), "utf8"), 'module.exports = () => "v2";\n');
    const head = await git(["rev-parse", "HEAD"], join(dir, "clone"));
    assert.equal(head.stdout.trim(), second.sha);

    // What Slipway's worker does: an empty repository, a shallow fetch of one exact (non-tip) sha.
    const shallow = join(dir, "shallow");
    await git(["init", "--quiet", shallow]);
    await git(["-c", header, "fetch", "--quiet", "--depth", "1", "--no-tags", url, first.sha], shallow);
    await git(["checkout", "--quiet", "--detach", "FETCH_HEAD"], shallow);
    assert.equal(await readFile(join(shallow, "README.md"), "utf8"), "# edge\n");
    assert.equal((await git(["rev-list", "--count", "HEAD"], shallow)).stdout.trim(), "1", "the fetch was shallow");

    const unauthenticated = await git(["clone", "--quiet", url, join(dir, "denied")]).then(
      () => null,
      (error: { stderr: string }) => error.stderr,
    );
    assert.ok(unauthenticated !== null, "clone without credentials must fail");
    assert.match(unauthenticated, /Authentication failed|could not read Username|401/);

    const wrongToken = Buffer.from("x-access-token:ghs_wrong").toString("base64");
    await assert.rejects(git(["-c", `http.extraHeader=Authorization: Basic ${wrongToken}`, "clone", "--quiet", url, join(dir, "wrong")]));

    // Large fetches arrive gzip-compressed; a hand-made protocol v0 request proves the emulator inflates them.
    const request = Buffer.from(`0032want ${second.sha}\n00000009done\n`);
    const gzipped = await fetch(`${url}/git-upload-pack`, {
      method: "POST",
      headers: {
        authorization: `Basic ${basic}`,
        "content-type": "application/x-git-upload-pack-request",
        "content-encoding": "gzip",
      },
      body: gzipSync(request),
    });
    assert.equal(gzipped.status, 200);
    assert.equal(gzipped.headers.get("content-type"), "application/x-git-upload-pack-result");
    const pack = Buffer.from(await gzipped.arrayBuffer());
    assert.equal(pack.subarray(0, 8).toString(), "0008NAK\n");
    assert.ok(pack.includes(Buffer.from("PACK")), "a packfile follows");

    const denied = emulator.gitRequests.filter((r) => r.status === 401);
    assert.ok(denied.length >= 2);
    assert.ok(emulator.gitRequests.some((r) => r.service === "git-upload-pack" && r.method === "POST" && r.status === 200));
    assert.ok(emulator.gitRequests.some((r) => r.headers["git-protocol"] === "version=2"), "git spoke protocol v2");
    for (const request of emulator.gitRequests) assert.ok(!request.url.includes(token), "the token is never in a git URL");
    assert.ok(emulator.requests.some((r) => r.kind === "git" && r.path.endsWith("/git-upload-pack")));
  });

  test("compare lists the files changed between two commits", async () => {
    const feature = await emulator.commit({
      owner,
      repo: name,
      branch: "feature/greeting",
      files: { "functions/hello/index.js": 'module.exports = () => "v3";\n', "functions/bye/index.js": "bye\n", "slipway.yml": null },
      message: "feature work",
    });
    assert.equal(feature.before, "0".repeat(40));
    assert.deepEqual(feature.parents, [second.sha], "a new branch starts at the default branch head");

    const { data } = await octokit.rest.repos.compareCommitsWithBasehead({ owner, repo: name, basehead: `main...feature/greeting` });
    assert.equal(data.status, "ahead");
    assert.equal(data.ahead_by, 1);
    assert.equal(data.behind_by, 0);
    assert.equal(data.merge_base_commit.sha, second.sha);
    assert.deepEqual(data.commits.map((c) => c.sha), [feature.sha]);
    const files = Object.fromEntries((data.files ?? []).map((f) => [f.filename, f.status]));
    assert.deepEqual(files, { "functions/bye/index.js": "added", "functions/hello/index.js": "modified", "slipway.yml": "removed" });
    const modified = data.files?.find((f) => f.filename === "functions/hello/index.js");
    assert.equal(modified?.additions, 1);
    assert.equal(modified?.deletions, 1);
    assert.match(modified?.patch ?? "", /^@@ .* @@\n-module.exports = \(\) => "v2";\n\+module.exports = \(\) => "v3";$/);

    const bySha = await octokit.rest.repos.compareCommitsWithBasehead({ owner, repo: name, basehead: `${first.sha}...${second.sha}` });
    assert.deepEqual(bySha.data.files?.map((f) => f.filename).sort(), ["README.md", "docs/guide.md", "functions/hello/index.js"]);
  });

  test("comments, reactions, permissions, pull requests and deployments", async () => {
    const pr = await emulator.createPullRequest({ owner, repo: name, head: "feature/greeting", title: "Greeting" });
    const { data: pull } = await octokit.rest.pulls.get({ owner, repo: name, pull_number: pr.number });
    assert.equal(pull.head.ref, "feature/greeting");
    assert.equal(pull.head.sha, await emulator.branchHead(owner, name, "feature/greeting"));
    assert.equal(pull.base.sha, second.sha);
    assert.equal(pull.changed_files, 3);

    const human = emulator.createIssueComment({ owner, repo: name, issueNumber: pr.number, body: "/deploy", user: "octo-dev" });
    const { data: reaction } = await octokit.rest.reactions.createForIssueComment({ owner, repo: name, comment_id: human.id, content: "rocket" });
    const again = await octokit.rest.reactions.createForIssueComment({ owner, repo: name, comment_id: human.id, content: "rocket" });
    assert.equal(again.status, 200, "the same reaction twice answers 200 with the existing one");
    assert.equal(again.data.id, reaction.id);
    const { data: reply } = await octokit.rest.issues.createComment({ owner, repo: name, issue_number: pr.number, body: "Deploying…" });
    assert.equal(reply.user?.login, "slipway[bot]");
    await octokit.rest.issues.updateComment({ owner, repo: name, comment_id: reply.id, body: "Deployed ✅" });
    assert.deepEqual(emulator.comments(owner, name, pr.number).map((c) => c.body), ["/deploy", "Deployed ✅"]);
    assert.deepEqual(emulator.reactions(owner, name, { commentId: human.id }).map((r) => r.content), ["rocket"]);
    const toMissingIssue = await failure(octokit.rest.issues.createComment({ owner, repo: name, issue_number: 999, body: "x" }));
    assert.equal(toMissingIssue.status, 404);
    await octokit.rest.reactions.deleteForIssueComment({ owner, repo: name, comment_id: human.id, reaction_id: reaction.id });
    assert.equal(emulator.reactions(owner, name, { commentId: human.id }).length, 0);

    const { data: commitComment } = await octokit.rest.repos.createCommitComment({ owner, repo: name, commit_sha: second.sha, body: "built" });
    await octokit.rest.reactions.createForCommitComment({ owner, repo: name, comment_id: commitComment.id, content: "eyes" });
    assert.equal(emulator.commitComments(owner, name, second.sha)[0]?.body, "built");
    assert.deepEqual(emulator.reactions(owner, name, { subject: "commit_comment" }).map((r) => r.content), ["eyes"]);

    emulator.setPermission(owner, name, "octo-dev", "maintain");
    const { data: perm } = await octokit.rest.repos.getCollaboratorPermissionLevel({ owner, repo: name, username: "octo-dev" });
    assert.equal(perm.permission, "write", 'maintain maps to the legacy "write"');
    assert.equal(perm.role_name, "maintain");
    const stranger = await octokit.rest.repos.getCollaboratorPermissionLevel({ owner, repo: name, username: "stranger" });
    assert.equal(stranger.data.permission, "none");

    // GitHub verifies every check on the commit before creating a deployment unless told not to.
    await octokit.rest.checks.create({ owner, repo: name, head_sha: second.sha, name: "still-running", status: "in_progress" });
    const blocked = await failure(octokit.rest.repos.createDeployment({ owner, repo: name, ref: second.sha, environment: "production" }));
    assert.equal(blocked.status, 409);
    emulator.validationErrors.splice(-1);
    const { data: deployment } = await octokit.rest.repos.createDeployment({
      owner,
      repo: name,
      ref: second.sha,
      environment: "production",
      required_contexts: [],
      auto_merge: false,
      payload: { function: "hello" },
    });
    assert.ok("id" in deployment);
    await octokit.rest.repos.createDeploymentStatus({ owner, repo: name, deployment_id: deployment.id, state: "in_progress" });
    await octokit.rest.repos.createDeploymentStatus({ owner, repo: name, deployment_id: deployment.id, state: "success", environment_url: "http://127.0.0.1/fn/hello" });
    const [stored] = emulator.deployments(owner, name);
    assert.equal(stored?.sha, second.sha);
    assert.deepEqual(stored?.payload, { function: "hello" });
    assert.deepEqual(stored?.statuses.map((s) => s.state), ["in_progress", "success"]);
  });

  test("routes outside the emulator or the OpenAPI description are 404 and recorded", async () => {
    const notImplemented = await failure(octokit.rest.repos.listBranches({ owner, repo: name }));
    assert.equal(notImplemented.status, 404);
    const made = await fetch(`${emulator.apiUrl}/repos/${owner}/${name}/made-up-endpoint`, { headers: { authorization: `token ${token}` } });
    assert.equal(made.status, 404);
    assert.deepEqual(
      emulator.unknownRoutes.map((u) => [u.method, u.path, u.reason]),
      [
        ["GET", `/repos/${owner}/${name}/branches`, "not-implemented"],
        ["GET", `/repos/${owner}/${name}/made-up-endpoint`, "not-in-openapi"],
      ],
    );
    emulator.unknownRoutes.length = 0;
  });

  test("a signed webhook verifies with @octokit/webhooks-methods and payloads match the webhook schemas", async () => {
    const secret = "webhook-secret";
    const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
        res.writeHead(202).end("ok");
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/api/github/webhooks`;
      const payload = pushPayload({ repo, before: first.sha, after: second.sha, message: "second" });
      const result = await deliverWebhook({ url, event: "push", payload, secret });
      assert.equal(result.status, 202);
      assert.match(result.deliveryId, /^[0-9a-f-]{36}$/);
      const [delivery] = received;
      assert.ok(delivery);
      const signature = String(delivery.headers["x-hub-signature-256"]);
      assert.equal(await verify(secret, delivery.body, signature), true);
      assert.equal(await verify("other-secret", delivery.body, signature), false);
      assert.equal(signature, signWebhook(delivery.body, secret));
      assert.equal(delivery.headers["x-github-event"], "push");
      assert.equal(delivery.headers["x-github-delivery"], result.deliveryId);
      assert.match(String(delivery.headers["user-agent"]), /^GitHub-Hookshot\//);
      assert.equal(delivery.headers["content-type"], "application/json");

      const body = JSON.parse(delivery.body) as typeof payload & Record<string, any>;
      assert.equal(body.ref, "refs/heads/main");
      assert.equal(body.before, first.sha);
      assert.equal(body.after, second.sha);
      assert.equal(body.installation.id, installationId);
      assert.equal(body.repository.id, repo.id);
      assert.equal(body.repository.full_name, `${owner}/${name}`);
      assert.equal(body.repository.clone_url, emulator.gitUrl(owner, name));
      assert.equal(body.repository.private, true);
      assert.equal(typeof body.repository.pushed_at, "number", "push payloads carry Unix timestamps for the repository");
      assert.equal(body.head_commit.id, second.sha);
      assert.equal(body.head_commit.tree_id, second.tree);
      assert.deepEqual([body.head_commit.added, body.head_commit.modified, body.head_commit.removed], [["docs/guide.md"], ["functions/hello/index.js"], ["README.md"]]);

      const unsigned = await deliverWebhook({ url, event: "push", payload, secret, signature: "" });
      assert.equal(unsigned.status, 202);
      assert.equal(received[1]?.headers["x-hub-signature-256"], undefined, "signature: '' sends no signature");

      const pr = await emulator.createPullRequest({ owner, repo: name, head: "feature/greeting", title: "Second PR" });
      const human = emulator.createIssueComment({ owner, repo: name, issueNumber: pr.number, body: "/deploy staging", user: "octo-dev" });
      const commitComment = await emulator.createCommitComment({ owner, repo: name, sha: second.sha, body: "/redeploy", user: "octo-dev" });
      const newBranch = pushPayload({ repo, before: "0".repeat(40), after: String((pr.head as { sha: string }).sha), ref: "refs/heads/feature/greeting" });
      assert.equal(newBranch.created, true);
      const payloads: Array<[string, Record<string, unknown>]> = [
        ["push", payload],
        ["push", newBranch],
        ["pull-request-opened", pullRequestPayload({ repo, number: pr.number, pullRequest: pr })],
        ["pull-request-synchronize", pullRequestPayload({ repo, number: pr.number, action: "synchronize", pullRequest: pr, before: second.sha, after: String((pr.head as { sha: string }).sha) })],
        ["issue-comment-created", issueCommentPayload({ repo, issueNumber: pr.number, comment: human })],
        ["commit-comment-created", commitCommentPayload({ repo, sha: second.sha, comment: commitComment })],
      ];
      for (const [key, built] of payloads) {
        assert.deepEqual(validator.validateWebhook(key, built), [], `${key} payload matches GitHub's webhook schema`);
      }
      const comment = payloads[4]?.[1] as Record<string, any>;
      assert.equal(comment.comment.body, "/deploy staging");
      assert.equal(comment.comment.user.login, "octo-dev");
      assert.equal(comment.issue.number, pr.number);
      assert.ok(comment.issue.pull_request, "a PR comment arrives as issue_comment with issue.pull_request");
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  test("every response the emulator sent matches the OpenAPI response schemas", () => {
    assert.deepEqual(emulator.responseValidationErrors, []);
    assert.deepEqual(emulator.validationErrors, []);
    assert.deepEqual(emulator.unknownRoutes, []);
  });
});
