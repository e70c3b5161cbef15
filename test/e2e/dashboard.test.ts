// The dashboard, driven in jsdom against a real stack: its page and script come from the
// app, its calls go to the real REST API. An operator pastes a token, sees each function and
// what serves, opens a function's deployments and a build log, and rolls back with a click. A
// function whose runtime crash-loops is flagged on the list and in its deployments.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { JSDOM } from "jsdom";
import { createApiToken } from "../../src/api/api-tokens.js";
import { crashLoopExitCode, crashLoopingFunctionFiles, crashLoopingFunctionYml } from "../fixtures/crash-looping-function.js";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "panel";
const repoName = "site";
const yml = 'functions:\n  - id: hello\n    runtime: node-20\n    root: hello\n    commands: "echo dashboard-build-marker"\n    execute: any\n';
const handler = (v: string) => `module.exports = async (c) => c.res.text(${JSON.stringify(v)});\n`;

describe("dashboard", { timeout: 10 * 60_000 }, () => {
  let stack: SlipwayStack;
  let functionId: string;
  let repo: Awaited<ReturnType<SlipwayStack["emulator"]["createRepo"]>>;

  before(async () => {
    stack = await startSlipwayStack();
    repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 7401 });
    for (const [files, message] of [[{ "slipway.yml": yml, "hello/index.js": handler("one") }, "one"], [{ "hello/index.js": handler("two") }, "two"]] as const) {
      const commit = await stack.emulator.commit({ owner, repo: repoName, files, message });
      await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message }), secret: stack.webhookSecret });
      await stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === commit.sha && r.conclusion === "success"), { timeoutMs: 180_000, intervalMs: 200 });
    }
    functionId = (await stack.db.query("select id from functions where name = 'hello'")).rows[0].id;
  });
  after(() => stack?.stop());

  async function openDashboard() {
    const confirmed: string[] = [];
    let inFlight = 0;
    const dom = await JSDOM.fromURL(`${stack.appUrl}/`, {
      runScripts: "dangerously",
      resources: "usable",
      pretendToBeVisual: true,
      beforeParse(window) {
        // jsdom has no fetch: the page's calls go to the app through Node's.
        (window as unknown as { fetch: typeof fetch }).fetch = async (input: string | URL | Request, init?: RequestInit) => {
          inFlight++;
          try {
            return await fetch(new URL(String(input), window.location.href), init);
          } finally {
            // Let the page handle the answer before this request counts as done.
            setTimeout(() => inFlight--, 50);
          }
        };
        window.confirm = (message?: string) => {
          confirmed.push(String(message));
          return true;
        };
      },
    });
    await new Promise<void>((resolve) => dom.window.addEventListener("load", () => resolve()));
    // The page refreshes itself every 10 s; closing it while a refresh is in flight would
    // leave that refresh writing into a closed window. Stop the refreshes, then wait them out.
    const close = async () => {
      dom.window.sessionStorage.clear();
      await stack.emulator.waitFor(() => inFlight === 0, { timeoutMs: 15_000, intervalMs: 20 });
      dom.window.close();
    };
    return { dom, document: dom.window.document, confirmed, close };
  }

  const until = <T>(check: () => T | undefined | null | false) => stack.emulator.waitFor(check as () => T, { timeoutMs: 15_000, intervalMs: 50 });

  test("/ leads to the page, which is served with a strict content security policy", async () => {
    const root = await fetch(`${stack.appUrl}/`, { redirect: "manual" });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get("location"), "/dashboard");
    const page = await fetch(`${stack.appUrl}/dashboard`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.equal((await fetch(`${stack.appUrl}/dashboard/dashboard.js`)).headers.get("content-type"), "text/javascript; charset=utf-8");
  });

  test("a refused token brings back the form with the reason", async () => {
    const { dom, document, close } = await openDashboard();
    assert.equal(document.getElementById("sign-in")!.hidden, false, "no token yet: the form shows");
    (document.getElementById("token") as HTMLInputElement).value = "slw_not-a-real-token";
    document.getElementById("sign-in")!.dispatchEvent(new dom.window.Event("submit", { cancelable: true }));
    await until(() => /token was refused/.test(document.getElementById("message")!.textContent ?? ""));
    assert.equal(document.getElementById("sign-in")!.hidden, false);
    assert.equal(document.getElementById("functions")!.hidden, true);
    await close();
  });

  test("with a server token: functions, deployments and a build log; a click rolls back, another unpins, and the page shows each", async () => {
    const { token } = await createApiToken(stack.db, { name: "dashboard test", kind: "server" });
    const { dom, document, confirmed, close } = await openDashboard();
    (document.getElementById("token") as HTMLInputElement).value = token;
    document.getElementById("sign-in")!.dispatchEvent(new dom.window.Event("submit", { cancelable: true }));

    const row = await until(() => document.querySelector(`tr[data-function="${functionId}"]`));
    const cells = [...row.querySelectorAll("td")].map((td) => td.textContent);
    assert.deepEqual(cells.slice(0, 4), ["hello", `${owner}/${repoName}`, "node-20", "v2"]);
    assert.equal(row.querySelector("a")!.getAttribute("href"), `${stack.gatewayUrl}/fn/hello~${repoName}~${owner}/`);
    assert.equal(dom.window.sessionStorage.getItem("slipway.token"), token, "kept in the tab");
    assert.equal((document.getElementById("token") as HTMLInputElement).value, "", "and cleared from the form");

    row.querySelector("button")!.click();
    const deploymentRows = await until(() => {
      const rows = [...document.querySelectorAll("#deployment-rows tr")];
      return rows.length === 2 ? rows : undefined;
    });
    const text = (tr: Element) => [...tr.querySelectorAll("td")].map((td) => td.textContent);
    assert.deepEqual(text(deploymentRows[0]!).slice(0, 2), ["v2", "ready"]);
    assert.match(text(deploymentRows[0]!).at(-1)!, /^serving/);
    assert.deepEqual(text(deploymentRows[0]!).slice(2, 5), ["production", "push", "main"], "alias, trigger, branch");
    assert.match(deploymentRows[0]!.querySelector("td:nth-child(6) a")!.getAttribute("href")!, new RegExp(`/${owner}/${repoName}/commit/[0-9a-f]{40}$`));
    assert.equal(deploymentRows[0]!.querySelector("td:nth-child(1) a")!.getAttribute("href"), `/deployments/${deploymentRows[0]!.getAttribute("data-deployment")}`, "each version links to its page");
    const rollback = [...deploymentRows[1]!.querySelectorAll("button")].find((b) => b.textContent === "Roll back to v1")!;
    assert.ok(rollback, "v1 offers a rollback");

    [...deploymentRows[1]!.querySelectorAll("button")].find((b) => b.textContent === "Log")!.click();
    await until(() => /dashboard-build-marker/.test(document.getElementById("log")!.textContent ?? ""));

    rollback.click();
    await until(() => /v2 → v1, production pinned/.test(document.getElementById("message")!.textContent ?? ""));
    assert.match(confirmed[0]!, /Roll back hello to v1\?/);
    assert.equal(await (await fetch(`${stack.gatewayUrl}/fn/hello~${repoName}~${owner}/`)).text(), "one");
    const audit = await stack.db.query("select actor, via from audit_log where function_id = $1 and action = 'rollback'", [functionId]);
    assert.deepEqual(audit.rows, [{ actor: "dashboard test", via: "api" }]);
    await until(() => document.querySelector(`tr[data-function="${functionId}"] td:nth-child(4)`)?.textContent === "v1 (pinned)");
    const pinnedRow = await until(() => {
      const tr = document.querySelector("#deployment-rows tr:nth-child(2)");
      return /serving \(pinned\)/.test(tr?.textContent ?? "") ? tr : undefined;
    });

    [...pinnedRow.querySelectorAll("button")].find((b) => b.textContent === "Unpin")!.click();
    await until(() => /unpinned at v1/.test(document.getElementById("message")!.textContent ?? ""));
    assert.equal((await stack.db.query("select pinned from aliases where function_id = $1 and name = 'production'", [functionId])).rows[0].pinned, false);
    await until(() => document.querySelector(`tr[data-function="${functionId}"] td:nth-child(4)`)?.textContent === "v1");
    await close();
  });

  test("a crash-looping version is flagged on the list and in its deployments, with its exit code and what to do; a healthy one is not", async () => {
    const { token } = await createApiToken(stack.db, { name: "dashboard crash loop", kind: "server" });
    type Listed = { id: string; name: string; url: string; aliases: { alias: string; deploymentId: string }[]; runtimeHealth: { crashLooping: boolean }[] };
    const crasherNow = async () => {
      const response = await fetch(`${stack.appUrl}/v1/functions?repo=${owner}/${repoName}`, { headers: { authorization: `Bearer ${token}` } });
      return ((await response.json()) as { functions: Listed[] }).functions.find((f) => f.name === "crasher");
    };
    // A second function, which exits at every start once it is broken.
    const files = { "slipway.yml": yml + crashLoopingFunctionYml("crasher", "crasher"), ...crashLoopingFunctionFiles("crasher") };
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: "crasher" });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: "crasher" }), secret: stack.webhookSecret });
    const crasher = await stack.emulator.waitFor(
      async () => {
        const fn = await crasherNow();
        return fn?.aliases.some((a) => a.alias === "production") && (await fetch(fn.url).catch(() => null))?.status === 200 ? fn : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 200 },
    );
    const deploymentId = crasher.aliases.find((a) => a.alias === "production")!.deploymentId;
    await fetch(new URL("break", crasher.url.endsWith("/") ? crasher.url : `${crasher.url}/`)).then((r) => r.arrayBuffer()).catch(() => null);
    await stack.emulator.waitFor(async () => (await crasherNow())?.runtimeHealth.some((h) => h.crashLooping), { timeoutMs: 120_000, intervalMs: 200, describe: () => stack.logs().slice(-6000) });

    const { dom, document, close } = await openDashboard();
    (document.getElementById("token") as HTMLInputElement).value = token;
    document.getElementById("sign-in")!.dispatchEvent(new dom.window.Event("submit", { cancelable: true }));
    const row = await until(() => document.querySelector(`tr[data-function="${crasher.id}"]`));
    assert.equal(row.querySelector("td:nth-child(7) .badge.crash-loop")?.textContent, "crash loop", "the list flags the function");
    assert.equal(document.querySelector(`tr[data-function="${functionId}"] td:nth-child(7)`)!.textContent, "–", "the healthy function is not flagged");
    const alerts = document.getElementById("alerts")!;
    assert.equal(alerts.hidden, false);
    assert.match(alerts.textContent ?? "", new RegExp(`crasher \\(${owner}/${repoName}\\) v1: exit code ${crashLoopExitCode}, \\d+ restarts in`));
    assert.doesNotMatch(alerts.textContent ?? "", /hello/);

    row.querySelector("button")!.click();
    const banner = await until(() => {
      const element = document.getElementById("runtime-banner")!;
      return !element.hidden && /crasher: deployments/.test(document.getElementById("deployments-title")!.textContent ?? "") ? element : undefined;
    });
    const text = banner.textContent ?? "";
    assert.match(text, new RegExp(`crash loop crasher v1 \\(production\\) keeps going down: exit code ${crashLoopExitCode}, \\d+ restarts in \\d+ (s|min), last at `));
    assert.match(text, /, (next try in \d+ (s|min)|restarting now)\./);
    assert.ok(text.includes(`docker logs slipway-runtime-${deploymentId}`), "where its output is");
    assert.ok(text.includes("/slipway rollback") && text.includes(`slipway rollback ${crasher.id}`), "how to roll back");
    assert.ok(document.querySelector(`#deployment-rows tr[data-deployment="${deploymentId}"] .badge.crash-loop`), "the version is flagged among its deployments");

    // The healthy function's deployments carry no banner.
    document.querySelector(`tr[data-function="${functionId}"] button`)!.dispatchEvent(new dom.window.MouseEvent("click", { bubbles: true }));
    await until(() => /hello: deployments/.test(document.getElementById("deployments-title")!.textContent ?? "") && document.getElementById("runtime-banner")!.hidden);
    assert.equal(document.querySelectorAll("#deployment-rows .badge").length, 0);
    await close();
  });
});
