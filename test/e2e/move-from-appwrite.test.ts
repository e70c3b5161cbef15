// Issue 20 end to end, following the README's "Moving from Appwrite" guide step by step: a
// repository laid out the way the Appwrite CLI lays one out (appwrite.json at the root, the
// function under functions/<$id>/ with src/main.js) is pushed through GitHub as it is, and
// its function is then called through its URL and through the real node-appwrite SDK,
// pointed at Slipway's Appwrite-compatible endpoint: sync, async and delayed executions,
// read back with getExecution and listExecutions.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { AppwriteException, Client, ExecutionMethod, Functions, Query } from "node-appwrite";
import { createApiToken } from "../../src/api/api-tokens.js";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "acme";
const projectId = "shop-prod";
const appwriteId = "Greeter_API";

// What `appwrite init project` + `appwrite init function` write (trimmed to one function).
const appwriteJson = {
  projectId,
  projectName: "Shop",
  functions: [
    {
      $id: appwriteId,
      name: "Greeter API",
      runtime: "node-18.0",
      execute: ["any"],
      events: ["users.*.create", "functions.*.deployments.*.update"],
      schedule: "",
      timeout: 15,
      enabled: true,
      logging: false,
      scopes: ["users.read"],
      entrypoint: "src/main.js",
      commands: "npm install",
      path: `functions/${appwriteId}`,
    },
  ],
};

// An Appwrite starter function, unchanged: ESM, `export default async ({ req, res, log })`.
const mainJs = `export default async ({ req, res, log }) => {
  log("greeting " + req.path);
  return res.json({
    path: req.path,
    body: req.bodyText,
    trigger: req.headers["x-appwrite-trigger"] ?? null,
    hasKey: (req.headers["x-appwrite-key"] ?? "").startsWith("slw_"),
    userId: req.headers["x-appwrite-user-id"] ?? "",
    env: Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith("APPWRITE_"))),
  });
};
`;

describe("moving from Appwrite", { timeout: 20 * 60_000 }, () => {
  let stack: SlipwayStack;
  let server: string;
  let functions: Functions;

  before(async () => {
    stack = await startSlipwayStack({ env: { SLIPWAY_APPWRITE_PROJECT_ID: projectId } });
    server = (await createApiToken(stack.db, { name: "migrated app", kind: "server" })).token;
    const client = new Client().setEndpoint(`${stack.gatewayUrl}/appwrite/v1`).setProject(projectId).setKey(server);
    functions = new Functions(client);
  });

  after(async () => {
    if (process.env.SLIPWAY_TEST_LOG_FILE && stack) (await import("node:fs")).writeFileSync(process.env.SLIPWAY_TEST_LOG_FILE, stack.logs());
    if (stack) await stack.stop();
  });

  async function push(repoName: string, files: Record<string, string>) {
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 2020 });
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: "move from Appwrite" });
    const payload = pushPayload({ repo, before: commit.before, after: commit.sha, message: "move from Appwrite" });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload, secret: stack.webhookSecret, deliveryId: randomUUID() });
    return commit.sha;
  }

  async function productionOf(repoName: string, name: string) {
    return stack.emulator.waitFor(
      async () => {
        const listed = (await (await fetch(`${stack.appUrl}/v1/functions?repo=${owner}/${repoName}`, { headers: { authorization: `Bearer ${server}` } })).json()) as {
          functions: { name: string; url: string; aliases: { alias: string }[] }[];
        };
        const fn = listed.functions.find((f) => f.name === name);
        return fn?.aliases.some((a) => a.alias === "production") ? fn : undefined;
      },
      { timeoutMs: 8 * 60_000, intervalMs: 500 },
    );
  }

  test("steps 1-2: the Appwrite CLI's repository deploys from appwrite.json, and the check run says what differs", async () => {
    const sha = await push("shop", {
      "appwrite.json": JSON.stringify(appwriteJson, null, 4),
      [`functions/${appwriteId}/package.json`]: JSON.stringify({ name: "greeter", version: "1.0.0", type: "module", main: "src/main.js" }, null, 2),
      [`functions/${appwriteId}/src/main.js`]: mainJs,
      [`functions/${appwriteId}/README.md`]: "# Greeter API\n",
    });
    const fn = await productionOf("shop", "greeter-api");

    const [run] = stack.emulator.checkRuns(owner, "shop", { headSha: sha, name: "slipway / appwrite.json" });
    assert.ok(run, "appwrite.json gets a check run of its own");
    assert.equal(run.conclusion, "neutral");
    const summary = run.output.summary ?? "";
    for (const said of [
      "'Greeter_API' deploys as Slipway function 'greeter-api'",
      "node-18.0 runs on Slipway's node-20: the versions differ",
      "'users.*.create' is unsupported",
      "`logging` false is not honoured",
      "`scopes` (users.read) are not honoured",
    ]) {
      assert.ok(summary.includes(said), `the check run says ${said}:\n${summary}`);
    }
    assert.ok(!summary.includes("functions.*.deployments.*.update"), "a deployment event Slipway emits is no note");
    // The function's own run is written by the reporting outbox, after the switch.
    await stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, "shop", { headSha: sha, name: "slipway / greeter-api" })[0]?.conclusion === "success", { timeoutMs: 60_000, intervalMs: 250 });

    // Its URL, as the API gives it: open to anyone (execute: any), the function unchanged.
    const answer = await fetch(`${fn.url}hello`, { method: "POST", body: "hi", headers: { "x-appwrite-user-id": "posing-as-someone" } });
    assert.equal(answer.status, 200, await answer.clone().text());
    const greeting = (await answer.json()) as { path: string; body: string; trigger: string; hasKey: boolean; userId: string; env: Record<string, string> };
    assert.equal(greeting.path, "/hello");
    assert.equal(greeting.body, "hi");
    assert.equal(greeting.trigger, "http");
    assert.equal(greeting.hasKey, true, "x-appwrite-key carries the function's own key");
    assert.equal(greeting.userId, "", "a caller's x-appwrite-* headers are never passed on");
    assert.equal(greeting.env.APPWRITE_FUNCTION_ID, appwriteId);
    assert.equal(greeting.env.APPWRITE_FUNCTION_NAME, "Greeter API");
    assert.equal(greeting.env.APPWRITE_FUNCTION_PROJECT_ID, projectId);
    assert.equal(greeting.env.APPWRITE_FUNCTION_RUNTIME_NAME, "Node.js");
    assert.equal(greeting.env.APPWRITE_FUNCTION_RUNTIME_VERSION, "20");
    assert.equal(greeting.env.APPWRITE_FUNCTION_API_ENDPOINT, `${stack.gatewayUrl}/appwrite/v1`);
    const deployment = await stack.db.query<{ id: string }>("select a.deployment_id as id from aliases a join functions f on f.id = a.function_id where f.name = 'greeter-api' and a.name = 'production'");
    assert.equal(greeting.env.APPWRITE_FUNCTION_DEPLOYMENT, deployment.rows[0]!.id);
  });

  test("step 3: the app's node-appwrite calls run unchanged against Slipway: sync, async and delayed, read back", async () => {
    await productionOf("shop", "greeter-api");

    const sync = await functions.createExecution({ functionId: appwriteId, body: "sync body", xpath: "/sync", method: ExecutionMethod.POST, headers: { "x-order": "7" } });
    assert.equal(sync.status, "completed", JSON.stringify(sync));
    assert.equal(sync.functionId, appwriteId);
    assert.equal(sync.trigger, "http");
    assert.equal(sync.responseStatusCode, 200);
    assert.equal(JSON.parse(sync.responseBody).body, "sync body");
    assert.equal(sync.requestPath, "/sync");
    assert.equal(sync.requestMethod, "POST");
    // (The SDK's JSON parser gives objects without a prototype.)
    assert.deepEqual(sync.requestHeaders.map((h) => ({ ...h })), [{ name: "x-order", value: "7" }]);
    assert.ok(sync.responseHeaders.some((h) => h.name === "content-type" && h.value.startsWith("application/json")));
    assert.match(sync.logs, /greeting \/sync/);
    assert.equal(typeof sync.duration, "number");
    assert.deepEqual(sync.$permissions, []);
    assert.ok(!Number.isNaN(Date.parse(sync.$createdAt)) && !Number.isNaN(Date.parse(sync.$updatedAt)));

    const queued = await functions.createExecution({ functionId: appwriteId, body: "later", async: true, xpath: "/async" });
    assert.ok(["waiting", "processing", "completed"].includes(queued.status), queued.status);
    const scheduledAt = new Date(Date.now() + 4000).toISOString();
    const delayed = await functions.createExecution({ functionId: appwriteId, async: true, xpath: "/delayed", method: ExecutionMethod.GET, scheduledAt });
    assert.equal(delayed.status, "scheduled");
    assert.equal(Date.parse(delayed.scheduledAt!), Date.parse(scheduledAt));

    const finished = (executionId: string) =>
      stack.emulator.waitFor(
        async () => {
          const execution = await functions.getExecution({ functionId: appwriteId, executionId });
          return execution.status === "completed" || execution.status === "failed" ? execution : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
    const ranAsync = await finished(queued.$id);
    assert.equal(ranAsync.status, "completed");
    assert.equal(JSON.parse(ranAsync.responseBody).path, "/async");
    const ranDelayed = await finished(delayed.$id);
    assert.equal(ranDelayed.status, "completed");
    assert.equal(JSON.parse(ranDelayed.responseBody).path, "/delayed");
    assert.ok(Date.parse(ranDelayed.$updatedAt) >= Date.parse(scheduledAt), "a delayed execution ends after its time");

    const list = await functions.listExecutions({ functionId: appwriteId, queries: [Query.equal("status", "completed"), Query.limit(50)] });
    for (const id of [sync.$id, queued.$id, delayed.$id]) assert.ok(list.executions.some((e) => e.$id === id), `listExecutions returns ${id}`);
    assert.ok(list.total >= 3);
    assert.ok(list.executions.every((e) => e.status === "completed"));
    const one = await functions.listExecutions({ functionId: appwriteId, queries: [Query.limit(1)] });
    assert.equal(one.executions.length, 1);
  });

  test("errors come back as Appwrite's, so an app's error handling keeps working", async () => {
    const failure = async (call: Promise<unknown>) => {
      try {
        await call;
      } catch (error) {
        assert.ok(error instanceof AppwriteException, String(error));
        return error;
      }
      assert.fail("the call should have failed");
    };
    const missing = await failure(functions.getExecution({ functionId: "No_Such_Function", executionId: randomUUID() }));
    assert.equal(missing.code, 404);
    assert.equal(missing.type, "function_not_found");

    const otherProject = new Functions(new Client().setEndpoint(`${stack.gatewayUrl}/appwrite/v1`).setProject("someone-else").setKey(server));
    const wrongProject = await failure(otherProject.listExecutions({ functionId: appwriteId }));
    assert.equal(wrongProject.code, 404);
    assert.equal(wrongProject.type, "project_not_found");

    const badKey = new Functions(new Client().setEndpoint(`${stack.gatewayUrl}/appwrite/v1`).setProject(projectId).setKey("not-a-key"));
    const refused = await failure(badKey.listExecutions({ functionId: appwriteId }));
    assert.equal(refused.code, 401);
    assert.equal(refused.type, "user_unauthorized");

    const badQuery = await failure(functions.listExecutions({ functionId: appwriteId, queries: [Query.search("responseBody", "x")] }));
    assert.equal(badQuery.code, 400);
    assert.equal(badQuery.type, "general_query_invalid");

    const raw = await fetch(`${stack.gatewayUrl}/appwrite/v1/databases`, { headers: { "x-appwrite-project": projectId } });
    assert.equal(raw.status, 404);
    assert.deepEqual(Object.keys((await raw.json()) as object).sort(), ["code", "message", "type", "version"]);
  });

  test("slipway.yml wins when a repository has both files; its deployment's event runs the Appwrite function subscribed to it", async () => {
    const sha = await push("both", {
      "slipway.yml": "functions:\n  - id: from-yml\n    runtime: node-20\n    root: fn\n    commands: \"true\"\n",
      "appwrite.json": JSON.stringify({ projectId, functions: [{ $id: "from-json", runtime: "node-20.0", path: "fn", entrypoint: "index.js", commands: "true" }] }),
      "fn/index.js": "module.exports = async ({ res }) => res.text('yml');\n",
    });
    await productionOf("both", "from-yml");
    const names = (await stack.db.query<{ name: string }>("select f.name from functions f join repositories r on r.id = f.repository_id where r.name = 'both'")).rows.map((r) => r.name);
    assert.deepEqual(names, ["from-yml"]);
    assert.equal(stack.emulator.checkRuns(owner, "both", { headSha: sha, name: "slipway / appwrite.json" }).length, 0);

    // Greeter_API's `functions.*.deployments.*.update` heard from-yml's build end (same installation).
    const heard = await stack.emulator.waitFor(
      async () => {
        const events = await functions.listExecutions({ functionId: appwriteId, queries: [Query.equal("trigger", "event")] });
        return events.executions.find((e) => e.status === "completed" && JSON.parse(e.responseBody).trigger === "event");
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    assert.equal(heard.trigger, "event");
  });
});
