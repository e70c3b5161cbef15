// GitHub's failure modes in the emulator, seen through real Octokit clients: x-ratelimit-*
// headers counted per installation and per app JWT, the primary limit (403 until the window
// resets), secondary limits (retry-after) waited out by @octokit/plugin-throttling, 5xx
// bursts retried by @octokit/plugin-retry, and slow answers. A refused request changes nothing.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { test, type TestContext } from "node:test";
import { createAppAuth } from "@octokit/auth-app";
import { retry } from "@octokit/plugin-retry";
import { throttling } from "@octokit/plugin-throttling";
import { Octokit } from "@octokit/rest";
import { startGitHubEmulator, type GitHubEmulator, type GitHubEmulatorOptions } from "./start-github-emulator.js";

const appId = 31337;
const installationId = 4242;
const owner = "acme";
const name = "edge-functions";
const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const bounded = { timeout: 20_000 };

interface Setup {
  emulator: GitHubEmulator;
  token: string;
  privateKeyPem: string;
  issueNumber: number;
  headSha: string;
  octokit: Octokit;
}

interface HttpFailure {
  status: number;
  message: string;
  response?: { headers: Record<string, string | undefined>; data: { message?: string; documentation_url?: string } };
}

/** A fresh emulator per test: faults and budgets are emulator-wide, and some tests move its clock. */
async function setUp(t: TestContext, options: Partial<GitHubEmulatorOptions> = {}): Promise<Setup> {
  const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const publicKey = keys.publicKey.export({ type: "spki", format: "pem" }).toString();
  const emulator = await startGitHubEmulator({ appId, publicKey, ...options });
  t.after(() => emulator.stop());
  await emulator.createRepo({ owner, name, installationId });
  const { sha: headSha } = await emulator.commit({ owner, repo: name, files: { "slipway.yml": "functions: []\n" }, message: "first" });
  const issue = await emulator.createIssue({ owner, repo: name, title: "faults" });
  const token = emulator.createInstallationToken(installationId);
  const privateKeyPem = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return { emulator, token, privateKeyPem, issueNumber: issue.number, headSha, octokit: new Octokit({ baseUrl: emulator.apiUrl, auth: token, log: quiet }) };
}

async function failure(promise: Promise<unknown>): Promise<HttpFailure> {
  try {
    await promise;
  } catch (error) {
    return error as HttpFailure;
  }
  assert.fail("expected the request to fail");
}

function comment(setup: Setup, client: Pick<Octokit, "rest"> = setup.octokit, body = "hello") {
  return client.rest.issues.createComment({ owner, repo: name, issue_number: setup.issueNumber, body });
}

/**
 * Check runs, Slipway's most frequent write. plugin-throttling spaces writes 1 s apart, and
 * writes that notify people (comments, issues) 3 s apart, so the throttled tests create these.
 */
function checkRun(setup: Setup, client: Pick<Octokit, "rest">, checkName: string) {
  return client.rest.checks.create({ owner, repo: name, head_sha: setup.headSha, name: checkName, status: "in_progress" });
}

/** What plugin-throttling called back. */
function limitLog() {
  const calls: Array<{ kind: "primary" | "secondary"; retryAfter: number; retryCount: number }> = [];
  const handler = (kind: "primary" | "secondary") => (retryAfter: number, _options: unknown, _octokit: unknown, retryCount: number) => {
    calls.push({ kind, retryAfter, retryCount });
    return retryCount < 2;
  };
  return { calls, onRateLimit: handler("primary"), onSecondaryRateLimit: handler("secondary") };
}

let throttleIds = 0;

/** Octokit with @octokit/plugin-throttling (own queue id, so tests do not share write spacing). */
function throttled(setup: Setup, log: ReturnType<typeof limitLog>) {
  const ThrottledOctokit = Octokit.plugin(throttling);
  return new ThrottledOctokit({
    baseUrl: setup.emulator.apiUrl,
    auth: setup.token,
    log: quiet,
    throttle: { id: `emulator-faults-${++throttleIds}`, onRateLimit: log.onRateLimit, onSecondaryRateLimit: log.onSecondaryRateLimit },
  });
}

test("every REST answer carries x-ratelimit-* headers, one budget per installation and one for the app JWT", bounded, async (t) => {
  const setup = await setUp(t);
  const { emulator, octokit } = setup;
  const before = Math.floor(Date.now() / 1000);

  const first = await octokit.rest.repos.get({ owner, repo: name });
  const second = await octokit.rest.repos.get({ owner, repo: name });
  assert.equal(first.headers["x-ratelimit-limit"], "5000");
  assert.equal(first.headers["x-ratelimit-resource"], "core");
  assert.deepEqual([first.headers["x-ratelimit-used"], first.headers["x-ratelimit-remaining"]], ["1", "4999"]);
  assert.deepEqual([second.headers["x-ratelimit-used"], second.headers["x-ratelimit-remaining"]], ["2", "4998"]);
  const reset = Number(first.headers["x-ratelimit-reset"]);
  assert.ok(reset >= before + 3600 && reset <= before + 3602, `reset is an hour after the first request, in epoch seconds (got ${reset})`);
  assert.equal(second.headers["x-ratelimit-reset"], first.headers["x-ratelimit-reset"], "one window");

  // Another token of the same installation spends the same budget, as on GitHub.
  const sameInstallation = new Octokit({ baseUrl: emulator.apiUrl, auth: emulator.createInstallationToken(installationId), log: quiet });
  const notFound = await failure(sameInstallation.rest.issues.get({ owner, repo: name, issue_number: 999 }));
  assert.equal(notFound.status, 404);
  assert.equal(notFound.response?.headers["x-ratelimit-used"], "3", "failed answers count and carry the headers too");

  await emulator.createRepo({ owner: "other", name: "repo", installationId: 777 });
  const other = new Octokit({ baseUrl: emulator.apiUrl, auth: emulator.createInstallationToken(777), log: quiet });
  assert.equal((await other.rest.repos.get({ owner: "other", repo: "repo" })).headers["x-ratelimit-used"], "1", "another installation has its own budget");

  const appAuth = createAppAuth({ appId, privateKey: setup.privateKeyPem });
  const { token: jwt } = await appAuth({ type: "app" });
  const asApp = await new Octokit({ baseUrl: emulator.apiUrl, log: quiet }).request("GET /app", { headers: { authorization: `Bearer ${jwt}` } });
  assert.equal(asApp.headers["x-ratelimit-used"], "1", "the app JWT has its own budget");
  assert.deepEqual(emulator.faults.served, []);
});

test("primary rate limit: GitHub's 403 until the window resets, and a refused write creates nothing", bounded, async (t) => {
  const setup = await setUp(t);
  const { emulator, octokit } = setup;

  emulator.faults.rateLimit({ remaining: 1, resetInSeconds: 30 });
  const last = await octokit.rest.repos.get({ owner, repo: name });
  assert.equal(last.headers["x-ratelimit-remaining"], "0");

  const refused = await failure(comment(setup));
  assert.equal(refused.status, 403);
  assert.deepEqual(refused.response?.data, {
    message: `API rate limit exceeded for installation ID ${installationId}.`,
    documentation_url: "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
  });
  assert.equal(refused.response?.headers["x-ratelimit-remaining"], "0");
  assert.equal(refused.response?.headers["x-ratelimit-used"], "5000");
  const reset = Number(refused.response?.headers["x-ratelimit-reset"]);
  const resetIn = reset - emulator.now().getTime() / 1000;
  assert.ok(resetIn > 28 && resetIn <= 31, `reset in about 30 s (got ${resetIn})`);
  assert.equal(emulator.comments(owner, name).length, 0, "the refused POST created no comment");
  assert.deepEqual(
    emulator.faults.served.map((f) => [f.kind, f.method, f.status, f.operationId]),
    [["rate-limit", "POST", 403, "issues/create-comment"]],
  );

  emulator.advanceClock(31_000);
  const afterReset = await comment(setup);
  assert.equal(afterReset.status, 201);
  assert.equal(afterReset.headers["x-ratelimit-remaining"], "4999", "a fresh window");
  assert.equal(emulator.comments(owner, name).length, 1);

  // GitHub sometimes answers 429; and a limit can be given to one installation.
  emulator.faults.rateLimit({ installationId, status: 429 });
  assert.equal((await failure(octokit.rest.repos.get({ owner, repo: name }))).status, 429);
  emulator.faults.clear();
  assert.equal((await octokit.rest.repos.get({ owner, repo: name })).status, 200, "clear() gives every budget a fresh window");
});

test("the limit and window are options", bounded, async (t) => {
  const { emulator, octokit } = await setUp(t, { rateLimit: { limit: 2, windowSeconds: 60 } });
  assert.equal((await octokit.rest.repos.get({ owner, repo: name })).headers["x-ratelimit-limit"], "2");
  await octokit.rest.repos.get({ owner, repo: name });
  const refused = await failure(octokit.rest.repos.get({ owner, repo: name }));
  assert.equal(refused.status, 403);
  const resetMs = Number(refused.response?.headers["x-ratelimit-reset"]) * 1000;
  assert.ok(resetMs - emulator.now().getTime() <= 61_000, "a 60 s window");
  emulator.advanceClock(resetMs - emulator.now().getTime() - 1000);
  assert.equal((await failure(octokit.rest.repos.get({ owner, repo: name }))).status, 403, "a second before the reset");
  emulator.advanceClock(1000);
  assert.equal((await octokit.rest.repos.get({ owner, repo: name })).status, 200, "at the reset");
});

test("plugin-throttling waits for x-ratelimit-reset and then succeeds", bounded, async (t) => {
  const setup = await setUp(t);
  const log = limitLog();
  const client = throttled(setup, log);

  setup.emulator.faults.rateLimit({ installationId, remaining: 0, resetInSeconds: 1 });
  const started = Date.now();
  const { status } = await client.rest.repos.get({ owner, repo: name });
  const elapsed = Date.now() - started;

  assert.equal(status, 200);
  assert.equal(log.calls.length, 1);
  assert.equal(log.calls[0]?.kind, "primary", "seen as the primary limit (x-ratelimit-remaining: 0)");
  assert.ok(elapsed >= 1000, `waited for the reset (${elapsed} ms)`);
  assert.deepEqual(
    setup.emulator.requests.filter((r) => r.operationId === "repos/get").map((r) => r.status),
    [403, 200],
  );
});

test("secondary rate limit: retry-after and GitHub's message; plugin-throttling waits it out and the write lands once", bounded, async (t) => {
  const setup = await setUp(t);
  const { emulator, octokit } = setup;

  // A bare client sees GitHub's answer; reads go through when only writes are limited.
  emulator.faults.secondaryRateLimit({ count: 1, retryAfterSeconds: 7, match: { writesOnly: true } });
  assert.equal((await octokit.rest.repos.get({ owner, repo: name })).status, 200);
  const refused = await failure(comment(setup));
  assert.equal(refused.status, 403);
  assert.equal(refused.response?.headers["retry-after"], "7");
  assert.notEqual(refused.response?.headers["x-ratelimit-remaining"], "0", "not the primary limit");
  assert.match(refused.response?.data.message ?? "", /^You have exceeded a secondary rate limit\. Please wait a few minutes before you try again\./);
  assert.equal(refused.response?.data.documentation_url, "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits");
  assert.match(refused.message, /\bsecondary rate\b/i, "what plugin-throttling looks for in the error message");
  assert.equal(emulator.comments(owner, name).length, 0);

  // A client with plugin-throttling: 429 this time, retry-after 1 s.
  const log = limitLog();
  emulator.faults.secondaryRateLimit({ count: 1, retryAfterSeconds: 1, status: 429, match: { writesOnly: true } });
  const started = Date.now();
  const created = await checkRun(setup, throttled(setup, log), "deploy");
  const elapsed = Date.now() - started;
  assert.equal(created.status, 201);
  assert.deepEqual(log.calls, [{ kind: "secondary", retryAfter: 1, retryCount: 0 }]);
  assert.ok(elapsed >= 1000, `waited retry-after (${elapsed} ms)`);
  assert.deepEqual(emulator.checkRuns(owner, name).map((r) => r.name), ["deploy"], "created exactly once");
  assert.deepEqual(
    emulator.faults.served.map((f) => [f.kind, f.status]),
    [
      ["secondary-rate-limit", 403],
      ["secondary-rate-limit", 429],
    ],
  );
});

test("a 5xx burst: nothing is applied; plugin-retry retries until success and the write lands once", bounded, async (t) => {
  const setup = await setUp(t);
  const { emulator, octokit } = setup;
  emulator.faults.serverErrors({ count: 3, status: 502, match: { method: "POST", path: /\/issues\/\d+\/comments$/ } });

  assert.equal((await octokit.rest.repos.get({ owner, repo: name })).status, 200, "other requests are untouched");
  const bare = await failure(comment(setup));
  assert.equal(bare.status, 502);
  assert.equal(bare.response?.data.message, "Server Error");
  assert.equal(emulator.comments(owner, name).length, 0);

  // plugin-retry waits (retryCount + 1)² × retryAfterBaseValue ms; 10 ms keeps the test short.
  const RetryingOctokit = Octokit.plugin(retry);
  const retrying = new RetryingOctokit({ baseUrl: emulator.apiUrl, auth: setup.token, log: quiet, retry: { retryAfterBaseValue: 10 } });
  const created = await comment(setup, retrying, "after the burst");
  assert.equal(created.status, 201);
  assert.deepEqual(emulator.comments(owner, name).map((c) => c.body), ["after the burst"], "applied exactly once");
  assert.deepEqual(
    emulator.requests.filter((r) => r.operationId === "issues/create-comment").map((r) => r.status),
    [502, 502, 502, 201],
  );
  assert.equal(emulator.faults.served.filter((f) => f.kind === "server-error").length, 3);

  // Until clear(): every matching request fails.
  emulator.faults.serverErrors({ status: 503, match: { operationId: "repos/get" } });
  for (let i = 0; i < 3; i++) assert.equal((await failure(octokit.rest.repos.get({ owner, repo: name }))).status, 503);
  emulator.faults.clear();
  assert.equal((await octokit.rest.repos.get({ owner, repo: name })).status, 200);
});

test("throttling and retry together (Probot's and Slipway's plugins): a 503 then a secondary limit, and the write lands once", bounded, async (t) => {
  const setup = await setUp(t);
  const { emulator } = setup;
  const log = limitLog();
  const BothOctokit = Octokit.plugin(throttling, retry);
  const client = new BothOctokit({
    baseUrl: emulator.apiUrl,
    auth: setup.token,
    log: quiet,
    retry: { retryAfterBaseValue: 10 },
    throttle: { id: `emulator-faults-${++throttleIds}`, onRateLimit: log.onRateLimit, onSecondaryRateLimit: log.onSecondaryRateLimit },
  });
  const match = { operationId: "checks/create" };
  emulator.faults.serverErrors({ count: 1, status: 503, match });
  emulator.faults.secondaryRateLimit({ count: 1, retryAfterSeconds: 1, match });

  const created = await checkRun(setup, client, "once");
  assert.equal(created.status, 201);
  // One failure per request, a secondary limit before a 5xx: the first try gets the 403 (waited
  // out by plugin-throttling), the second the 503 (retried by plugin-retry).
  assert.deepEqual(
    emulator.requests.filter((r) => r.operationId === "checks/create").map((r) => r.status),
    [403, 503, 201],
  );
  assert.deepEqual(log.calls.map((c) => c.kind), ["secondary"]);
  assert.deepEqual(emulator.checkRuns(owner, name).map((r) => r.name), ["once"], "created exactly once");
});

test("slow answers are held back; the request is carried out at once; clear() lets held answers go", bounded, async (t) => {
  const setup = await setUp(t);
  const { emulator, octokit } = setup;

  emulator.faults.slow({ ms: 300, count: 1, match: { operationId: "repos/get" } });
  let started = Date.now();
  await octokit.rest.repos.get({ owner, repo: name });
  const slow = Date.now() - started;
  started = Date.now();
  await octokit.rest.repos.get({ owner, repo: name });
  const fast = Date.now() - started;
  assert.ok(slow >= 300, `held back 300 ms (${slow} ms)`);
  assert.ok(fast < 300, `the next one is not (${fast} ms)`);
  assert.deepEqual(
    emulator.faults.served.map((f) => [f.kind, f.status, f.delayMs]),
    [["slow", 200, 300]],
  );

  // A client that gives up on a slow write still made it: the state changed before the answer.
  emulator.faults.slow({ ms: 5_000, match: { method: "POST" } });
  const timedOut = await failure(
    octokit.rest.issues.createComment({ owner, repo: name, issue_number: setup.issueNumber, body: "late", request: { signal: AbortSignal.timeout(100) } }),
  );
  assert.match(String(timedOut.message), /abort|timeout/i);
  assert.deepEqual(emulator.comments(owner, name).map((c) => c.body), ["late"]);

  const held = comment(setup, octokit, "held");
  await emulator.waitFor(() => emulator.comments(owner, name).length === 2);
  started = Date.now();
  emulator.faults.clear();
  assert.equal((await held).status, 201);
  assert.ok(Date.now() - started < 1000, "clear() answered the held request at once");
});
