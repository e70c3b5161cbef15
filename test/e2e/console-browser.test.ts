// The console in a real browser: Debian's Chromium, driven by playwright-core, against a real
// stack whose GitHub is the emulator. People sign in with GitHub (the emulator's OAuth web
// flow), see what they can read, follow a build's log live on its page, read why a build
// failed, arrive from a check run's Details link, and roll back from the page. Screenshots
// land in test-artifacts/console/ (git-ignored), for a person to look at.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { createApiToken } from "../../src/api/api-tokens.js";
import { createExecution, finishExecution } from "../../src/store/executions.js";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "studio";
const repoName = "web";
const screenshots = new URL("../../test-artifacts/console/", import.meta.url);
const yml = (commands: string) => `functions:\n  - id: hello\n    runtime: node-20\n    root: hello\n    commands: ${JSON.stringify(commands)}\n    execute: any\n`;
const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
const handler = (v: string) => `module.exports = async (c) => c.res.text(${JSON.stringify(v)});\n`;

describe("console in a browser", { timeout: 15 * 60_000 }, () => {
  let stack: SlipwayStack;
  let browser: Browser;
  let repo: Awaited<ReturnType<SlipwayStack["emulator"]["createRepo"]>>;
  const contexts = new Map<string, BrowserContext>();

  const until = <T>(check: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 60_000) =>
    stack.emulator.waitFor(check as () => Promise<T>, { timeoutMs, intervalMs: 100, describe: () => stack.logs().slice(-4000) });

  async function push(files: Record<string, string>, message: string): Promise<string> {
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message }), secret: stack.webhookSecret });
    return commit.sha;
  }

  const deploymentOf = async (sha: string) => (await stack.db.query<{ id: string; status: string; error: string | null; failed_command: string | null }>("select id, status, error, failed_command from deployments where commit_sha = $1", [sha])).rows[0];

  async function buildOf(sha: string, conclusion: string) {
    const run = await until(() => stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === sha && r.conclusion === conclusion && /\/deployments\//.test(r.details_url ?? "")), 240_000);
    return { run, deployment: (await deploymentOf(sha))! };
  }

  /** A browser profile signed in to the console as `login`, through the emulator's GitHub. */
  async function signedInAs(login: string): Promise<BrowserContext> {
    const existing = contexts.get(login);
    if (existing) return existing;
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = watch(page);
    stack.emulator.signInAs(login);
    try {
      await page.goto(`${stack.appUrl}/dashboard`);
      await page.getByRole("link", { name: "Sign in with GitHub" }).click();
      await page.waitForURL(`${stack.appUrl}/dashboard`);
      await page.locator("#who").filter({ hasText: `@${login}` }).waitFor();
    } catch (error) {
      // A profile that did not sign in is not kept, so the next test tries afresh.
      const report = await seen.report();
      await context.close();
      throw new Error(`signing in as ${login} failed: ${(error as Error).message}\n${report}`);
    }
    await page.close();
    contexts.set(login, context);
    return context;
  }

  /**
   * What a page met on its way, for a failure to say why: the browser console's errors, script
   * errors, failed and refused requests, and what the session endpoint and the page hold now.
   */
  function watch(page: Page) {
    const events: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") events.push(`console ${message.type()}: ${message.text()} (${message.location().url || "no url"})`);
    });
    page.on("pageerror", (error) => events.push(`script error: ${error.message}`));
    page.on("requestfailed", (request) => events.push(`request failed: ${request.method()} ${request.url()} (${request.failure()?.errorText})`));
    page.on("response", (response) => {
      if (response.status() >= 400) events.push(`answered ${response.status()}: ${response.request().method()} ${response.url()}`);
    });
    page.on("crash", () => events.push("the page crashed"));
    return {
      async report() {
        const session = await fetch(`${stack.appUrl}/auth/session`).then(async (r) => `${r.status} ${await r.text()}`, (e: Error) => `unreachable: ${e.message}`);
        const inPage = await page
          .evaluate(async () => ({ url: location.href, readyState: document.readyState, signIn: document.getElementById("github-sign-in")?.outerHTML ?? null, session: await fetch("/auth/session").then(async (r) => `${r.status} ${await r.text()}`, (e: Error) => `failed: ${e.message}`) }))
          .catch((e: Error) => `page not readable: ${e.message}`);
        return [`browser ${browser.version()}`, ...events, `GET /auth/session from the test: ${session}`, `in the page: ${JSON.stringify(inPage)}`, `stack logs (tail):\n${stack.logs().slice(-3000)}`].join("\n");
      },
    };
  }

  const shoot = (page: Page, name: string) => page.screenshot({ path: new URL(`${name}.png`, screenshots).pathname, fullPage: true });

  before(async () => {
    await mkdir(screenshots, { recursive: true });
    stack = await startSlipwayStack({ env: { SLIPWAY_MASTER_KEY: randomBytes(32).toString("hex") } });
    // Private: on a public repository everyone can read, as on GitHub.
    repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 7801, private: true });
    stack.emulator.setPermission(owner, repoName, "ana", "write");
    stack.emulator.setPermission(owner, repoName, "rex", "read");
    for (const version of ["one", "two"]) {
      const sha = await push({ "slipway.yml": yml("echo console-build-marker"), "hello/index.js": handler(version) }, version);
      await buildOf(sha, "success");
    }
    browser = await chromium.launch({ executablePath: process.env.SLIPWAY_TEST_CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  });
  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  test("signing in with GitHub: the OAuth web flow with state and PKCE ends in an HttpOnly, SameSite=Lax session; a reader sees the function, a stranger does not", async () => {
    const context = await signedInAs("ana");
    const page = await context.newPage();
    await page.goto(`${stack.appUrl}/dashboard`);
    const row = page.locator("#function-rows tr", { hasText: "hello" });
    await row.waitFor();
    assert.match(await row.textContent() ?? "", new RegExp(`${owner}/${repoName}`));
    await shoot(page, "dashboard-signed-in");

    const authorize = stack.emulator.oauthRequests.find((r) => r.path === "/login/oauth/authorize")!;
    assert.equal(authorize.params.code_challenge_method, "S256");
    assert.ok(authorize.params.state && authorize.params.state.length >= 32, "a state is sent");
    const exchange = stack.emulator.oauthRequests.find((r) => r.path === "/login/oauth/access_token")!;
    assert.equal(exchange.error, null);
    assert.ok(exchange.params.code_verifier, "the code is exchanged with its PKCE verifier");
    assert.equal(stack.emulator.responseValidationErrors.length, 0, JSON.stringify(stack.emulator.responseValidationErrors));

    const [cookie] = (await context.cookies()).filter((c) => c.name === "slipway_session");
    assert.ok(cookie, "a session cookie");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Lax");
    assert.equal(cookie.secure, false, "Secure only over HTTPS; this stack is plain http on 127.0.0.1");
    const stored = await stack.db.query("select login from console_sessions where id_hash = encode(sha256($1::bytea), 'hex')", [cookie.value]);
    assert.deepEqual(stored.rows, [{ login: "ana" }], "kept server-side, by its hash");

    // A state-changing call with the cookie but without the session's CSRF token is refused.
    const functionId = (await stack.db.query("select id from functions where name = 'hello'")).rows[0].id;
    const forged = await fetch(`${stack.appUrl}/v1/functions/${functionId}/rollback`, { method: "POST", headers: { cookie: `slipway_session=${cookie.value}`, "content-type": "application/json" }, body: "{}" });
    assert.equal(forged.status, 403);
    assert.match(((await forged.json()) as { error: string }).error, /CSRF/);

    // Someone with no access to the repository sees nothing of it.
    const stranger = await (await signedInAs("eve")).newPage();
    await stranger.goto(`${stack.appUrl}/dashboard`);
    await stranger.locator("#message").filter({ hasText: "No functions yet" }).waitFor();
    assert.equal(await stranger.locator("#function-rows tr").count(), 0);
    await stranger.close();
    await page.close();
  });

  test("a failed build's page shows its reason and the failing command", async () => {
    const sha = await push({ "slipway.yml": yml("echo about-to-fail && exit 3") }, "break the build");
    const { run, deployment } = await buildOf(sha, "failure");
    assert.ok(deployment.error, "the build recorded a reason");
    const page = await (await signedInAs("ana")).newPage();
    await page.goto(run.details_url!);
    await page.locator("#failure-reason").filter({ hasText: deployment.error! }).waitFor();
    assert.equal(await page.locator("#status").textContent(), "failed");
    if (deployment.failed_command) assert.equal(await page.locator("#failure-command code").textContent(), deployment.failed_command);
    await page.locator("#log").filter({ hasText: "about-to-fail" }).waitFor();
    await shoot(page, "deployment-failed");
    await page.close();
  });

  test("a building deployment's log is live on its page, and complete when the build ends", async () => {
    const sha = await push({ "slipway.yml": yml("i=0; while true; do i=$((i+1)); echo tick-$i; sleep 1; done"), "hello/index.js": handler("looping") }, "a build that ticks");
    const building = await until(async () => {
      const d = await deploymentOf(sha);
      return d?.status === "building" ? d : undefined;
    }, 240_000);
    const page = await (await signedInAs("ana")).newPage();
    await page.goto(`${stack.appUrl}/deployments/${building.id}`);
    await page.locator("#log-state").filter({ hasText: "(live)" }).waitFor();
    // Lines arrive while the page stays open: first one tick, then a later one.
    await page.locator("#log").filter({ hasText: "tick-2" }).waitFor({ timeout: 120_000 });
    await page.locator("#log").filter({ hasText: "tick-4" }).waitFor({ timeout: 120_000 });
    assert.equal((await deploymentOf(sha))!.status, "building", "still building while the log grew");
    await shoot(page, "deployment-live-log");

    // A newer commit supersedes the ticking build; the page says so without a reload.
    const fix = await push({ "slipway.yml": yml("echo console-build-marker"), "hello/index.js": handler("three") }, "stop ticking");
    await page.locator("#status").filter({ hasText: "cancelled" }).waitFor({ timeout: 120_000 });
    await page.locator("#failure-reason").filter({ hasText: "superseded" }).waitFor();
    assert.match(await page.locator("#log").textContent() ?? "", /tick-4/, "the log is still there, complete");
    await shoot(page, "deployment-superseded");
    await buildOf(fix, "success");
    await page.close();
  });

  test("a check run's Details link opens the deployment's page; a writer rolls back from it, a reader has no button; it fits a phone", async () => {
    const sha = (await stack.db.query<{ commit_sha: string }>("select commit_sha from deployments where version = 1")).rows[0]!.commit_sha;
    const { run, deployment } = await buildOf(sha, "success");
    assert.equal(run.details_url, `${stack.appUrl}/deployments/${deployment.id}`);

    const reader = await (await signedInAs("rex")).newPage();
    await reader.goto(run.details_url!);
    await reader.locator("#title").filter({ hasText: "hello v1" }).waitFor();
    assert.equal(await reader.locator("#actions button").count(), 0, "read access shows no actions");
    await reader.close();

    const page = await (await signedInAs("ana")).newPage();
    await page.goto(run.details_url!);
    await page.locator("#title").filter({ hasText: "hello v1" }).waitFor();
    await page.locator("#facts").filter({ hasText: "one" }).waitFor(); // the commit's message, from GitHub
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Roll back to v1" }).click();
    await page.locator("#message").filter({ hasText: "production pinned" }).waitFor();
    await page.locator("#aliases").filter({ hasText: "serves production" }).waitFor();
    await page.getByRole("button", { name: "Unpin production" }).waitFor();
    assert.equal(await (await fetch(`${stack.gatewayUrl}/fn/hello~${repoName}~${owner}/`)).text(), "one");
    const audit = await stack.db.query("select actor, via from audit_log where action = 'rollback'");
    assert.deepEqual(audit.rows, [{ actor: "ana", via: "console" }]);
    await shoot(page, "deployment-rolled-back");

    // At 390 px nothing is wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), "the deployment page fits 390 px");
    await shoot(page, "deployment-390px");
    await page.goto(`${stack.appUrl}/dashboard`);
    await page.locator("#function-rows tr", { hasText: "hello" }).waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), "the dashboard fits 390 px");
    await shoot(page, "dashboard-390px");
    await page.close();
  });

  test("the dashboard shows who did what and how; a writer sets and deletes a variable, whose value never comes back; a reader sees no variables", async () => {
    const page = await (await signedInAs("ana")).newPage();
    await page.goto(`${stack.appUrl}/dashboard`);
    await page.locator("#function-rows tr", { hasText: "hello" }).getByRole("button", { name: "hello" }).click();
    const rollback = page.locator("#audit-rows tr", { hasText: "rollback" });
    await rollback.waitFor();
    const from = (await stack.db.query<{ version: number }>("select d.version from audit_log a join deployments d on d.id = a.from_deployment_id where a.action = 'rollback'")).rows[0]!.version;
    assert.deepEqual((await rollback.locator("td").allTextContents()).slice(1), ["rollback", "ana", "console", `v${from} → v1`]);

    const secret = `value-${randomBytes(6).toString("hex")}`;
    await page.locator("#variable-name").fill("GREETING");
    await page.locator("#variable-value").fill(secret);
    await page.getByRole("button", { name: "Set" }).click();
    await page.locator("#variable-names li[data-variable=GREETING]").waitFor();
    await page.locator("#message").filter({ hasText: "GREETING set" }).waitFor();
    assert.ok(!(await page.content()).includes(secret), "the value is not on the page");
    await shoot(page, "dashboard-history-and-variables");
    page.once("dialog", (dialog) => void dialog.accept());
    await page.locator("#variable-names li[data-variable=GREETING]").getByRole("button", { name: "Delete" }).click();
    await page.locator("#message").filter({ hasText: "GREETING deleted" }).waitFor();
    await page.locator("#variable-names li[data-variable=GREETING]").waitFor({ state: "detached" });
    await page.close();

    const reader = await (await signedInAs("rex")).newPage();
    await reader.goto(`${stack.appUrl}/dashboard`);
    await reader.locator("#function-rows tr", { hasText: "hello" }).getByRole("button", { name: "hello" }).click();
    await reader.locator("#audit-rows tr", { hasText: "rollback" }).waitFor();
    assert.equal(await reader.locator("#variables").isVisible(), false, "no variables for a reader");
    const functionId = (await stack.db.query("select id from functions where name = 'hello'")).rows[0].id;
    const [cookie] = (await (await signedInAs("rex")).cookies()).filter((c) => c.name === "slipway_session");
    const csrfToken = ((await (await fetch(`${stack.appUrl}/auth/session`, { headers: { cookie: `slipway_session=${cookie!.value}` } })).json()) as { csrfToken: string }).csrfToken;
    const refused = await fetch(`${stack.appUrl}/v1/functions/${functionId}/variables/GREETING`, {
      method: "PUT",
      headers: { cookie: `slipway_session=${cookie!.value}`, "x-slipway-csrf": csrfToken, "content-type": "application/json" },
      body: JSON.stringify({ value: "x" }),
    });
    assert.equal(refused.status, 403, "the API refuses a reader too");
    assert.match(((await refused.json()) as { error: string }).error, /@rex has read access to studio\/web/);
    await reader.close();
  });

  test("a function's executions appear in the open dashboard as they happen, filtered by status, with their details", async () => {
    const page = await (await signedInAs("rex")).newPage();
    await page.goto(`${stack.appUrl}/dashboard`);
    await page.locator("#function-rows tr", { hasText: "hello" }).getByRole("button", { name: "hello" }).click();
    await page.locator("#execution-rows tr").first().waitFor();
    const before = await page.locator("#execution-rows tr[data-execution]").count();
    const called = await fetch(`${stack.gatewayUrl}/fn/hello~${repoName}~${owner}/from-the-test`);
    assert.equal(called.status, 200);
    // No reload: the live list shows the new call.
    const row = page.locator("#execution-rows tr[data-execution]", { hasText: "GET /from-the-test" }).first();
    await row.waitFor({ timeout: 60_000 });
    assert.ok((await page.locator("#execution-rows tr[data-execution]").count()) > before);
    assert.deepEqual((await row.locator("td").allTextContents()).slice(1, 5), ["http", "completed", "GET /from-the-test", "200"]);
    await row.getByRole("button", { name: "Details" }).click();
    await page.locator("#execution-detail").filter({ hasText: "GET /from-the-test → 200" }).waitFor();
    // Metrics at a glance: Chart.js charts of the builds and of the executions per minute.
    await page.locator("#metrics-totals").filter({ hasText: /\d+ executions?, error rate [\d.]+ %, p95/ }).waitFor();
    // (No named functions inside evaluate: tsx would wrap them in a helper the page lacks.)
    const [builds, minutes] = await page.evaluate(() =>
      ["build-chart", "execution-chart"].map(
        (id) => (window as unknown as { Chart: { getChart(c: HTMLCanvasElement): { data: { datasets: { data: unknown[] }[] } } | undefined } }).Chart.getChart(document.getElementById(id) as HTMLCanvasElement)?.data.datasets[0]!.data.length ?? 0,
      ),
    );
    assert.ok(builds! >= 3 && minutes! >= 1, `charts drawn: ${builds} builds, ${minutes} minutes`);
    await page.locator("#execution-status").selectOption("failed");
    await page.locator("#execution-rows tr[data-execution]", { hasText: "GET /from-the-test" }).waitFor({ state: "detached" });
    await shoot(page, "dashboard-executions");
    await page.close();
  });

  test("a writer redeploys production from its page and lands on the new build's page, which follows it to the end", async () => {
    const production = (await stack.db.query<{ deployment_id: string }>("select a.deployment_id from aliases a join functions f on f.id = a.function_id where f.name = 'hello' and a.name = 'production'")).rows[0]!;
    const page = await (await signedInAs("ana")).newPage();
    await page.goto(`${stack.appUrl}/deployments/${production.deployment_id}`);
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Redeploy" }).click();
    await page.waitForURL((url) => url.pathname.startsWith("/deployments/") && !url.pathname.endsWith(production.deployment_id));
    const newId = new URL(page.url()).pathname.split("/")[2]!;
    const created = (await stack.db.query<{ trigger: string; created_by: string | null }>("select trigger, created_by from deployments where id = $1", [newId])).rows[0]!;
    assert.equal(created.trigger, "redeploy");
    await page.locator("#status").filter({ hasText: "ready" }).waitFor({ timeout: 240_000 });
    await page.locator("#log").filter({ hasText: "console-build-marker" }).waitFor();
    await shoot(page, "deployment-redeployed");
    await page.close();
  });

  test("with a keyboard alone a person signs in, and axe-core finds no serious or critical violation on the dashboard or a deployment's page", async () => {
    const deploymentId = (await stack.db.query<{ id: string }>("select id from deployments where version = 1")).rows[0]!.id;
    // axe is injected as a script, which the console's CSP rightly refuses; this profile bypasses it.
    const context = await browser.newContext({ bypassCSP: true });
    const page = await context.newPage();
    stack.emulator.signInAs("ana");
    await page.goto(`${stack.appUrl}/deployments/${deploymentId}`);
    const signIn = page.getByRole("link", { name: "Sign in with GitHub" });
    await signIn.waitFor();
    for (let presses = 0; presses < 10 && !(await signIn.evaluate((link) => link === document.activeElement)); presses++) await page.keyboard.press("Tab");
    assert.ok(await signIn.evaluate((link) => link === document.activeElement), "Tab reaches Sign in with GitHub");
    await page.keyboard.press("Enter");
    await page.waitForURL(`${stack.appUrl}/deployments/${deploymentId}`);
    await page.locator("#title").filter({ hasText: "hello v1" }).waitFor();

    const seriousViolations = async () => {
      await page.addScriptTag({ path: axePath });
      const results = await page.evaluate(async () => (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; help: string; nodes: unknown[] }[] }> } }).axe.run());
      return results.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id} (${v.impact}): ${v.help}, ${v.nodes.length} element(s)`);
    };
    assert.deepEqual(await seriousViolations(), [], "the deployment page");
    await page.goto(`${stack.appUrl}/dashboard`);
    await page.locator("#function-rows tr", { hasText: "hello" }).getByRole("button", { name: "hello" }).click();
    await page.locator("#deployment-rows tr").first().waitFor();
    assert.deepEqual(await seriousViolations(), [], "the dashboard with a function's deployments");
    await context.close();
  });

  // The tests below come after the ones above on purpose: they read the executions and the
  // rolled-back, pinned production those leave.

  const helloId = async () => (await stack.db.query<{ id: string }>("select id from functions where name = 'hello'")).rows[0]!.id;

  async function openFunction(page: Page) {
    await page.goto(`${stack.appUrl}/dashboard`);
    await page.locator("#function-rows tr", { hasText: "hello" }).getByRole("button", { name: "hello" }).click();
    await page.locator("#execution-rows tr").first().waitFor();
  }

  test("an execution's page, linked from the executions list, shows its request, response status, duration and deployment, and follows a running execution live until it ends", async () => {
    const page = await (await signedInAs("rex")).newPage();
    await openFunction(page);
    assert.equal((await fetch(`${stack.gatewayUrl}/fn/hello~${repoName}~${owner}/to-the-page`)).status, 200);
    await page.getByRole("link", { name: "GET /to-the-page" }).first().click();
    await page.waitForURL((url) => url.pathname.startsWith("/executions/"));
    const executionId = new URL(page.url()).pathname.split("/")[2]!;
    const stored = (await stack.db.query<{ request_path: string; deployment_id: string }>("select request_path, deployment_id from executions where id = $1", [executionId])).rows[0]!;
    assert.equal(stored.request_path, "/to-the-page");
    await page.locator("#title").filter({ hasText: "hello: GET /to-the-page" }).waitFor();
    assert.equal(await page.locator("#status").textContent(), "completed");
    const facts = Object.fromEntries(await page.locator("#facts dt").evaluateAll((terms) => terms.map((dt) => [dt.textContent, dt.nextElementSibling!.textContent])));
    assert.equal(facts.response, "200");
    assert.equal(facts.trigger, "http");
    assert.match(facts.duration ?? "", /^\d+(\.\d)? (ms|s)$/);
    assert.equal(await page.locator("#facts a").getAttribute("href"), `/deployments/${stored.deployment_id}`, "it links the deployment that answered");
    await shoot(page, "execution-completed");

    // A running execution: written as a gateway writes an async one it has taken, so the test
    // decides when it ends (a real function's run would race the page's loading).
    const { id: runningId } = await createExecution(stack.db, { functionId: await helloId(), trigger: "async", status: "processing", request: { method: "POST", path: "/a-long-job", headers: {}, body: "" } });
    await page.goto(`${stack.appUrl}/executions/${runningId}`);
    await page.locator("#live-state").filter({ hasText: "(live)" }).waitFor();
    assert.equal(await page.locator("#status").textContent(), "processing");
    assert.equal(await page.locator("#logs").textContent(), "(none)");
    const finished = await finishExecution(stack.db, runningId, { status: "failed", deploymentId: stored.deployment_id, statusCode: 500, headers: {}, body: "", logs: "step one\nstep two", errors: "Error: the long job broke", logId: null, durationMs: 4321 });
    assert.ok(finished);
    // No reload: the page hears of the change and shows the end.
    await page.locator("#status").filter({ hasText: "failed" }).waitFor();
    await page.locator("#message").filter({ hasText: "Execution failed." }).waitFor();
    assert.equal(await page.locator("#logs").textContent(), "step one\nstep two");
    assert.equal(await page.locator("#errors").textContent(), "Error: the long job broke");
    assert.equal(await page.locator("#live-state").textContent(), "");
    await shoot(page, "execution-failed-live");
    await page.close();
  });

  test("the live tail streams to a pasted API token as well as to a session, and a stranger cannot open it", async () => {
    const { token } = await createApiToken(stack.db, { name: "console-tail", kind: "server" });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${stack.appUrl}/dashboard`);
    await page.locator("#token").fill(token);
    await page.getByRole("button", { name: "Open" }).click();
    await page.locator("#who").filter({ hasText: "API token" }).waitFor();
    await page.locator("#function-rows tr", { hasText: "hello" }).getByRole("button", { name: "hello" }).click();
    await page.locator("#execution-rows tr[data-execution]").first().waitFor();
    assert.equal((await fetch(`${stack.gatewayUrl}/fn/hello~${repoName}~${owner}/for-the-token`)).status, 200);
    await page.locator("#execution-rows tr[data-execution]", { hasText: "GET /for-the-token" }).waitFor({ timeout: 60_000 });
    // Off: the tail stops; a new call shows only once it is read again.
    await page.locator("#execution-live").uncheck();
    assert.equal((await fetch(`${stack.gatewayUrl}/fn/hello~${repoName}~${owner}/while-paused`)).status, 200);
    await until(async () => (await stack.db.query("select 1 from executions where request_path = '/while-paused'")).rowCount === 1);
    await page.locator("#execution-live").check();
    await page.locator("#execution-rows tr[data-execution]", { hasText: "GET /while-paused" }).waitFor();
    await context.close();

    const functionId = await helloId();
    const [cookie] = (await (await signedInAs("eve")).cookies()).filter((c) => c.name === "slipway_session");
    for (const path of [`/v1/console/functions/${functionId}/execution-events`, `/v1/console/executions/${(await stack.db.query("select id from executions limit 1")).rows[0].id}/events`]) {
      const refused = await fetch(`${stack.appUrl}${path}`, { headers: { cookie: `slipway_session=${cookie!.value}` } });
      assert.equal(refused.status, 404, `${path} is not found for someone who cannot read the repository`);
      await refused.body?.cancel();
    }
  });

  test("a writer sets and deletes a variable shared by every function of the repository; its value never comes back", async () => {
    const page = await (await signedInAs("ana")).newPage();
    await openFunction(page);
    await page.locator("#repository-variables-title").filter({ hasText: `${owner}/${repoName}` }).waitFor();
    const secret = `shared-${randomBytes(6).toString("hex")}`;
    await page.locator("#variable-scope").selectOption("repository");
    await page.locator("#variable-name").fill("SHARED_TOKEN");
    await page.locator("#variable-value").fill(secret);
    await page.getByRole("button", { name: "Set" }).click();
    await page.locator("#message").filter({ hasText: `SHARED_TOKEN set for every function of ${owner}/${repoName}` }).waitFor();
    await page.locator("#repository-variable-names li[data-variable=SHARED_TOKEN]").waitFor();
    assert.equal(await page.locator("#variable-names li[data-variable=SHARED_TOKEN]").count(), 0, "not among the function's own");
    const rows = await stack.db.query("select v.function_id, r.owner, r.name from variables v join repositories r on r.id = v.repository_id where v.name = 'SHARED_TOKEN'");
    assert.deepEqual(rows.rows, [{ function_id: null, owner, name: repoName }], "stored for the repository");
    assert.ok(!(await page.content()).includes(secret), "the value is not on the page");
    await shoot(page, "dashboard-repository-variables");
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Delete SHARED_TOKEN" }).click();
    await page.locator("#message").filter({ hasText: `SHARED_TOKEN deleted from every function of ${owner}/${repoName}` }).waitFor();
    await page.locator("#repository-variable-names li[data-variable=SHARED_TOKEN]").waitFor({ state: "detached" });
    assert.equal((await stack.db.query("select 1 from variables where name = 'SHARED_TOKEN'")).rowCount, 0);
    await page.close();
  });

  test("at 390 px the tables reflow into stacked rows, each cell named by its column, and nothing scrolls sideways; axe-core finds no serious violation there or on an execution's page", async () => {
    // Signed in as ana (from the profile signedInAs made), with the CSP bypassed for axe.
    const context = await browser.newContext({ bypassCSP: true, viewport: { width: 390, height: 844 }, storageState: await (await signedInAs("ana")).storageState() });
    const page = await context.newPage();
    await openFunction(page);
    await page.locator("#deployment-rows tr").first().waitFor();
    await page.locator("#audit-rows tr").first().waitFor();
    const layout = await page.evaluate(() => {
      const firstRow = document.querySelector("#deployment-rows tr")!;
      const [version, status] = [...firstRow.querySelectorAll("td")];
      const visibleTables = [...document.querySelectorAll("table")].filter((table) => table.offsetParent !== null);
      return {
        pageWidth: document.documentElement.scrollWidth,
        tablesScrolling: visibleTables.filter((table) => table.scrollWidth > table.clientWidth + 1 || table.parentElement!.scrollWidth > table.parentElement!.clientWidth + 1).map((table) => table.querySelector("tbody")!.id),
        display: getComputedStyle(version!).display,
        label: version!.getAttribute("data-label"),
        shownLabel: getComputedStyle(version!, "::before").content,
        stacked: status!.getBoundingClientRect().top >= version!.getBoundingClientRect().bottom - 1,
        roles: [document.querySelector("#deployment-rows")!.closest("table")!.getAttribute("role"), firstRow.getAttribute("role"), version!.getAttribute("role")],
        executionLabels: [...document.querySelectorAll("#execution-rows tr[data-execution] td")].slice(0, 7).map((td) => td.getAttribute("data-label")),
      };
    });
    assert.ok(layout.pageWidth <= 390, `the page is ${layout.pageWidth} px wide`);
    assert.deepEqual(layout.tablesScrolling, [], "no table scrolls sideways");
    assert.equal(layout.display, "block");
    assert.equal(layout.label, "version");
    assert.equal(layout.shownLabel, '"version"');
    assert.ok(layout.stacked, "a row's cells stack one under another");
    assert.deepEqual(layout.roles, ["table", "row", "cell"], "still a table to a screen reader");
    assert.deepEqual(layout.executionLabels, ["time", "trigger", "status", "request", "response", "duration", null]);
    await shoot(page, "dashboard-390px-reflowed");

    const seriousViolations = async () => {
      await page.addScriptTag({ path: axePath });
      const results = await page.evaluate(async () => (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; help: string; nodes: unknown[] }[] }> } }).axe.run());
      return results.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id} (${v.impact}): ${v.help}, ${v.nodes.length} element(s)`);
    };
    assert.deepEqual(await seriousViolations(), [], "the dashboard at 390 px");
    const executionId = await page.locator("#execution-rows tr[data-execution]").first().getAttribute("data-execution");
    await page.goto(`${stack.appUrl}/executions/${executionId}`);
    await page.locator("#title").filter({ hasText: "hello:" }).waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), "the execution page fits 390 px");
    assert.deepEqual(await seriousViolations(), [], "an execution's page at 390 px");
    await shoot(page, "execution-390px");

    // At a desktop's width the tables are tables again.
    await page.setViewportSize({ width: 1280, height: 900 });
    await openFunction(page);
    assert.equal(await page.locator("#deployment-rows td").first().evaluate((td) => getComputedStyle(td).display), "table-cell");
    assert.deepEqual(await seriousViolations(), [], "the dashboard at 1280 px");
    await context.close();
  });

  test("the functions list shows each function's newest deployment: its version, linked to its page, its status and when", async () => {
    const newest = (await stack.db.query<{ id: string; version: number; status: string }>("select id, version, status from deployments order by created_at desc limit 1")).rows[0]!;
    const page = await (await signedInAs("rex")).newPage();
    await page.goto(`${stack.appUrl}/dashboard`);
    const cell = page.locator("#function-rows tr", { hasText: "hello" }).locator('td[data-label="last deploy"]');
    await cell.locator("a").filter({ hasText: `v${newest.version}` }).waitFor();
    assert.equal(await cell.locator("a").getAttribute("href"), `/deployments/${newest.id}`);
    assert.equal(await cell.locator(".badge").textContent(), newest.status);
    await page.close();
  });

  test("the OpenAPI description names both ways in, a token and the console's session cookie with its CSRF header, and the /auth/* routes", async () => {
    type Operation = { security?: Record<string, string[]>[]; summary: string };
    const description = (await (await fetch(`${stack.appUrl}/v1/openapi.json`)).json()) as {
      components: { securitySchemes: Record<string, { type: string; in?: string; name?: string }> };
      paths: Record<string, Record<string, Operation>>;
    };
    const schemes = description.components.securitySchemes;
    assert.deepEqual([schemes.session!.type, schemes.session!.in, schemes.session!.name], ["apiKey", "cookie", "slipway_session"]);
    assert.deepEqual([schemes.csrf!.in, schemes.csrf!.name], ["header", "x-slipway-csrf"]);
    assert.deepEqual(description.paths["/v1/functions/{functionId}/rollback"]!.post!.security, [{ token: [] }, { session: [], csrf: [] }]);
    assert.deepEqual(description.paths["/v1/functions"]!.get!.security, [{ token: [] }, { session: [] }]);
    assert.deepEqual(description.paths["/v1/console/functions/{functionId}/execution-events"]!.get!.security, [{ token: [] }, { session: [] }]);
    for (const [method, path] of [["get", "/auth/github"], ["get", "/auth/github/callback"], ["get", "/auth/session"], ["post", "/auth/sign-out"]] as const) {
      assert.ok(description.paths[path]?.[method]?.summary, `${method.toUpperCase()} ${path} is described`);
    }
    assert.deepEqual(description.paths["/auth/sign-out"]!.post!.security, [{ session: [], csrf: [] }]);
  });
});
