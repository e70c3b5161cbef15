// Issue 6 end to end: sync, async, delayed, scheduled and event executions through the
// gateway's executions API; execute permissions on function URLs and on the API;
// encrypted variables at build and run time; and executions that survive the gateway
// (which consumes them) being killed.
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import { createApiToken } from "../../src/api/api-tokens.js";
import { upsertRepository } from "../../src/store/repositories.js";
import { createMasterKeyring } from "../../src/variables/master-keyring.js";
import { resolveFunctionEnvironment } from "../../src/variables/resolve-function-environment.js";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "acme";
const repoName = "exec-fns";
const slug = (name: string) => `${name}~${repoName}~${owner}`;
const masterKey = randomBytes(32).toString("hex");
const secretValue = `s3cret-${randomBytes(8).toString("hex")}`;
const functionSecret = `fn-secret-${randomBytes(8).toString("hex")}`;

const slipwayYml = `functions:
  - id: pub
    runtime: node-20
    root: fn
    commands: "if [ -n \\"$API_SECRET\\" ]; then echo yes > secret-at-build.txt; else echo no > secret-at-build.txt; fi"
    execute: any
    timeout: 3
    schedule: "* * * * *"
    events: ["orders.*", "deployments.*.ready"]
    variables:
      GREETING: hello from yml
  - id: priv
    runtime: node-20
    root: fn
    commands: "true"
  - id: team
    runtime: node-20
    root: fn
    commands: "true"
    execute: ["team:ops", "key:reports"]
  - id: users
    runtime: node-20
    root: fn
    commands: "true"
    execute: users
`;

const handler = `const fs = require("node:fs");
module.exports = async (context) => {
  const h = context.req.headers;
  context.log("ran " + h["x-slipway-execution-id"] + " via " + h["x-slipway-trigger"]);
  if (context.req.path === "/slow") await new Promise((r) => setTimeout(r, 8000));
  let build = null;
  try { build = fs.readFileSync(__dirname + "/secret-at-build.txt", "utf8").trim(); } catch {}
  return context.res.json({
    trigger: h["x-slipway-trigger"] ?? null,
    executionId: h["x-slipway-execution-id"] ?? null,
    event: h["x-slipway-event"] ?? null,
    hasKey: typeof h["x-slipway-key"] === "string" && h["x-slipway-key"].startsWith("slw_"),
    body: context.req.bodyText,
    path: context.req.path,
    greeting: process.env.GREETING ?? null,
    secretMatches: process.env.API_SECRET === ${JSON.stringify(secretValue)},
    secretAtBuild: build,
  });
};
`;

describe("executions", { timeout: 20 * 60_000 }, () => {
  let stack: SlipwayStack;
  let server: string;
  const ids: Record<string, string> = {};

  before(async () => {
    stack = await startSlipwayStack({ env: { SLIPWAY_MASTER_KEY: masterKey, SLIPWAY_EXECUTION_CONCURRENCY: "16" } });
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 5151 });
    // Project-level variables can be set before the first push once Slipway knows the repository.
    await upsertRepository(stack.db, { id: repo.id, installationId: 5151, owner, name: repoName, cloneUrl: repo.clone_url, defaultBranch: "main" });
    server = (await createApiToken(stack.db, { name: "operator", kind: "server" })).token;
    const put = await fetch(`${stack.appUrl}/v1/repositories/${owner}/${repoName}/variables/API_SECRET`, {
      method: "PUT",
      headers: { authorization: `Bearer ${server}`, "content-type": "application/json" },
      body: JSON.stringify({ value: secretValue }),
    });
    assert.equal(put.status, 200, await put.text());

    const files = { "slipway.yml": slipwayYml, "fn/index.js": handler, "fn/package.json": JSON.stringify({ name: "fn", private: true }) };
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: "deploy" });
    const payload = pushPayload({ repo, before: commit.before, after: commit.sha, message: "deploy" });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload, secret: stack.webhookSecret, deliveryId: randomUUID() });
    await stack.emulator.waitFor(
      async () => (await stack.db.query("select 1 from aliases where name = 'production'")).rowCount === 4,
      { timeoutMs: 8 * 60_000, intervalMs: 500 },
    );
    for (const row of (await stack.db.query<{ id: string; name: string }>("select id, name from functions")).rows) ids[row.name] = row.id;
  });

  after(async () => {
    if (process.env.SLIPWAY_TEST_LOG_FILE && stack) (await import("node:fs")).writeFileSync(process.env.SLIPWAY_TEST_LOG_FILE, stack.logs());
    if (stack) await stack.stop();
  });

  const execute = (fn: string, body: Record<string, unknown>, token: string | null = server) =>
    fetch(`${stack.gatewayUrl}/v1/functions/${fn}/executions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });

  const getExecution = async (id: string, token = server) => (await fetch(`${stack.gatewayUrl}/v1/executions/${id}`, { headers: { authorization: `Bearer ${token}` } })).json() as Promise<Record<string, any>>;

  async function finished(id: string, timeoutMs = 60_000) {
    return stack.emulator.waitFor(
      async () => {
        const e = await getExecution(id);
        return ["completed", "failed", "timed_out"].includes(e.status) ? e : undefined;
      },
      { timeoutMs, intervalMs: 250 },
    );
  }

  test("sync: waits and returns status, response, headers, logs and duration; the function sees how it was called", async () => {
    const response = await execute(ids.pub!, { body: "ping", path: "/hi", method: "POST", headers: { "x-custom": "1" } });
    assert.equal(response.status, 201);
    const e = (await response.json()) as Record<string, any>;
    assert.equal(e.status, "completed");
    assert.equal(e.trigger, "sync");
    assert.equal(e.responseStatusCode, 200);
    const body = JSON.parse(e.responseBody);
    assert.equal(body.trigger, "sync");
    assert.equal(body.executionId, e.id);
    assert.equal(body.body, "ping");
    assert.equal(body.path, "/hi");
    assert.equal(body.hasKey, true, "the execution gets its own API key");
    assert.match(e.responseHeaders["content-type"], /application\/json/);
    assert.match(e.logs, new RegExp(`ran ${e.id} via sync`));
    assert.ok(e.durationMs > 0);
    const stored = await stack.db.query("select status, logs from executions where id = $1", [e.id]);
    assert.equal(stored.rows[0].status, "completed");
    const key = await stack.db.query("select kind, function_id, expires_at from api_tokens where name = $1", [`execution ${e.id}`]);
    assert.equal(key.rows[0].kind, "execution");
    assert.equal(key.rows[0].function_id, ids.pub);
    assert.ok(new Date(key.rows[0].expires_at).getTime() < Date.now() + 10 * 60_000, "the execution key is short-lived");
    // The slug works as well as the id.
    assert.equal((await execute(slug("pub"), {})).status, 201);
  });

  test("sync: a function past its timeout ends timed_out", async () => {
    const started = Date.now();
    const e = (await (await execute(ids.pub!, { path: "/slow" })).json()) as Record<string, any>;
    assert.equal(e.status, "timed_out", JSON.stringify(e));
    assert.ok(Date.now() - started < 8000, "it stopped at the function's 3 s timeout");
    assert.match(e.errors, /timed out/i);
  });

  test("async: returns waiting at once; the execution is then readable with its result", async () => {
    const response = await execute(ids.pub!, { async: true, body: "later" });
    assert.equal(response.status, 202);
    const e = (await response.json()) as Record<string, any>;
    assert.equal(e.status, "waiting");
    const done = await finished(e.id);
    assert.equal(done.status, "completed");
    assert.equal(JSON.parse(done.responseBody).trigger, "async");
    const list = (await (await fetch(`${stack.gatewayUrl}/v1/functions/${ids.pub}/executions?trigger=async`, { headers: { authorization: `Bearer ${server}` } })).json()) as { executions: { id: string }[] };
    assert.ok(list.executions.some((x) => x.id === e.id));
  });

  test("permissions: the function URL and the executions API refuse what slipway.yml does not allow", async () => {
    const client = (await createApiToken(stack.db, { name: "end user", kind: "client" })).token;
    const ops = (await createApiToken(stack.db, { name: "ops user", kind: "client", teams: ["ops"] })).token;
    const reporter = (await createApiToken(stack.db, { name: "reporter", kind: "client", scopes: ["reports"] })).token;
    const call = (name: string, token?: string) => fetch(`${stack.gatewayUrl}/fn/${slug(name)}/`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

    assert.equal((await call("pub")).status, 200, "execute: any is public");
    const anonymous = await call("priv");
    assert.equal(anonymous.status, 401);
    assert.match(((await anonymous.json()) as { error: string }).error, /server API key/);
    const clientOnPriv = await call("priv", client);
    assert.equal(clientOnPriv.status, 403);
    assert.equal((await call("priv", server)).status, 200, "a server key may execute anything");
    assert.equal((await call("priv", "slw_" + "x".repeat(40))).status, 401, "an unknown token");

    assert.equal((await call("team", ops)).status, 200, "team:ops");
    assert.equal((await call("team", reporter)).status, 200, "key:reports");
    const outsider = await call("team", client);
    assert.equal(outsider.status, 403);
    assert.match(((await outsider.json()) as { error: string }).error, /team 'ops'/);
    assert.equal((await call("users", client)).status, 200, "users: any valid token");
    assert.equal((await call("users")).status, 401);

    assert.equal((await execute(ids.priv!, {}, null)).status, 401);
    assert.equal((await execute(ids.priv!, {}, client)).status, 403);
    assert.equal((await execute(ids.team!, {}, ops)).status, 201);
    assert.equal((await execute(ids.users!, {}, client)).status, 201);
    assert.equal((await execute(ids.pub!, {}, null)).status, 201);
  });

  test("variables: encrypted in the database, present at build and run time, never listed or logged", async () => {
    const put = await fetch(`${stack.appUrl}/v1/functions/${ids.priv}/variables/FN_SECRET`, {
      method: "PUT",
      headers: { authorization: `Bearer ${server}`, "content-type": "application/json" },
      body: JSON.stringify({ value: functionSecret }),
    });
    assert.equal(put.status, 200);
    assert.ok(!(await put.text()).includes(functionSecret));
    const rows = await stack.db.query("select name, ciphertext, key_id from variables");
    assert.equal(rows.rowCount, 2);
    for (const row of rows.rows) {
      assert.ok(!row.ciphertext.toString("utf8").includes(secretValue) && !row.ciphertext.toString("utf8").includes(functionSecret));
      assert.match(row.key_id, /^[0-9a-f]{16}$/);
    }
    const list = await (await fetch(`${stack.appUrl}/v1/repositories/${owner}/${repoName}/variables`, { headers: { authorization: `Bearer ${server}` } })).text();
    assert.ok(list.includes("API_SECRET") && !list.includes(secretValue), "lists carry names only");

    const e = (await (await execute(ids.pub!, {})).json()) as Record<string, any>;
    const body = JSON.parse(e.responseBody);
    assert.equal(body.secretMatches, true, "the secret is in the runtime environment");
    assert.equal(body.greeting, "hello from yml", "slipway.yml variables too");
    assert.equal(body.secretAtBuild, "yes", "and in the build environment");

    // A deployment built from a fork's code (trusted = false) gets no secret variables.
    const columns = await stack.db.query("select 1 from information_schema.columns where table_name = 'deployments' and column_name = 'trusted'");
    if (columns.rowCount === 1) {
      const production = await stack.db.query("select deployment_id from aliases where function_id = $1 and name = 'production'", [ids.pub]);
      const keyring = createMasterKeyring(masterKey);
      assert.ok((await resolveFunctionEnvironment(stack.db, keyring, production.rows[0].deployment_id)).API_SECRET);
      await stack.db.query("update deployments set trusted = false where id = $1", [production.rows[0].deployment_id]);
      const untrusted = await resolveFunctionEnvironment(stack.db, keyring, production.rows[0].deployment_id);
      assert.equal(untrusted.API_SECRET, undefined);
      assert.equal(untrusted.GREETING, "hello from yml");
      await stack.db.query("update deployments set trusted = true where id = $1", [production.rows[0].deployment_id]);
    }
    const logs = stack.logs();
    assert.ok(!logs.includes(secretValue) && !logs.includes(functionSecret) && !logs.includes(masterKey), "no secret reaches a log");
  });

  test("events: a published event runs the subscribed function with its name and payload", async () => {
    const response = await fetch(`${stack.gatewayUrl}/v1/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${server}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "orders.created", payload: { order: 42 } }),
    });
    assert.equal(response.status, 202);
    const e = await stack.emulator.waitFor(
      async () => (await stack.db.query("select id from executions where trigger = 'event' and event = 'orders.created'")).rows[0],
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const done = await finished(e.id);
    const body = JSON.parse(done.responseBody);
    assert.equal(body.trigger, "event");
    assert.equal(body.event, "orders.created");
    assert.deepEqual(JSON.parse(body.body), { order: 42 });
    // Slipway's own events: a build of another function, made while pub is live, publishes
    // `deployments.priv.ready`, and pub, subscribed to `deployments.*.ready`, runs on it.
    const redeploy = await fetch(`${stack.appUrl}/v1/functions/${ids.priv}/redeploy`, {
      method: "POST",
      headers: { authorization: `Bearer ${server}`, "content-type": "application/json" },
      body: "{}",
    });
    assert.ok(redeploy.ok, await redeploy.clone().text());
    const ready = await stack.emulator.waitFor(
      async () => (await stack.db.query("select event from executions where trigger = 'event' and event = 'deployments.priv.ready'")).rows[0],
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    assert.match(ready.event, /^deployments\.[^.]+\.ready$/, "pub ran on a deployments.*.ready event");
  });

  test("delayed: runs once at scheduledAt, even across a gateway restart", async () => {
    const runAt = new Date(Date.now() + 8000);
    const e = (await (await execute(ids.pub!, { scheduledAt: runAt.toISOString(), body: "delayed" })).json()) as Record<string, any>;
    assert.equal(e.status, "scheduled");
    await stack.kill("gateway", "SIGKILL");
    await new Promise((r) => setTimeout(r, 2000));
    await stack.spawnRole("gateway");
    const done = await finished(e.id, 60_000);
    assert.equal(done.status, "completed");
    assert.ok(new Date(done.startedAt).getTime() >= runAt.getTime() - 50, "not before its time");
    assert.equal(JSON.parse(done.responseBody).body, "delayed");
  });

  test("schedule: the cron schedule runs the function once per tick", async () => {
    const tick = await stack.emulator.waitFor(
      async () => (await stack.db.query("select id, scheduled_at from executions where trigger = 'schedule' and status = 'completed'")).rows[0],
      { timeoutMs: 75_000, intervalMs: 500 },
    );
    const e = await getExecution(tick.id);
    assert.equal(JSON.parse(e.responseBody).trigger, "schedule");
    const perTick = await stack.db.query("select scheduled_at, count(*)::int as n from executions where trigger = 'schedule' group by scheduled_at");
    for (const row of perTick.rows) assert.equal(row.n, 1, "one execution per tick");
  });

  test("500 async executions survive the gateway being killed mid-way: each runs exactly once, none is lost", async () => {
    const submitted: string[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const ids50 = await Promise.all(
        Array.from({ length: 50 }, async () => ((await (await execute(ids.pub!, { async: true })).json()) as { id: string }).id),
      );
      submitted.push(...ids50);
    }
    assert.equal(new Set(submitted).size, 500);
    await stack.emulator.waitFor(
      async () => (await stack.db.query("select count(*)::int as n from executions where id = any($1) and status not in ('waiting', 'scheduled')", [submitted])).rows[0].n >= 60,
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    await stack.kill("gateway", "SIGKILL");
    await new Promise((r) => setTimeout(r, 1000));
    await stack.spawnRole("gateway");
    await stack.emulator.waitFor(
      async () => (await stack.db.query("select count(*)::int as n from executions where id = any($1) and status in ('completed', 'failed', 'timed_out')", [submitted])).rows[0].n === 500,
      { timeoutMs: 5 * 60_000, intervalMs: 500 },
    );
    const statuses = await stack.db.query("select status, count(*)::int as n from executions where id = any($1) group by status", [submitted]);
    const byStatus = Object.fromEntries(statuses.rows.map((r) => [r.status, r.n]));
    const failures = await stack.db.query("select left(errors, 200) as errors, count(*)::int as n from executions where id = any($1) and status <> 'completed' group by 1", [submitted]);
    // Count how often the function ran for each execution from its own log lines.
    const docker = new Docker();
    const production = await stack.db.query("select deployment_id from aliases where function_id = $1 and name = 'production'", [ids.pub]);
    const container = docker.getContainer(`slipway-runtime-${production.rows[0].deployment_id}`);
    const exec = await container.exec({ Cmd: ["sh", "-c", "cat /mnt/logs/*_logs.log"], AttachStdout: true, AttachStderr: true, Tty: true });
    const stream = await exec.start({ Tty: true });
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve) => {
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", resolve);
    });
    const text = Buffer.concat(chunks).toString("utf8");
    const runs = new Map<string, number>();
    for (const match of text.matchAll(/ran ([0-9a-f-]{36}) via async/g)) runs.set(match[1]!, (runs.get(match[1]!) ?? 0) + 1);
    const missing = submitted.filter((id) => !runs.has(id));
    const twice = submitted.filter((id) => (runs.get(id) ?? 0) > 1);
    assert.deepEqual(twice, [], "no execution ran twice");
    assert.deepEqual(missing.length, 0, `every execution ran (statuses: ${JSON.stringify(byStatus)}; ${JSON.stringify(failures.rows)}; ${text.length} bytes of logs)`);
    // Those in flight when the gateway died ran once; their response was lost with the
    // gateway, so they end failed and say so rather than running a second time.
    for (const row of failures.rows) assert.match(row.errors, /stopped before it received the response; the function ran once/, JSON.stringify(failures.rows));
    assert.ok((byStatus.completed ?? 0) >= 500 - 2 * 16, `at most the executions in flight lost their response: ${JSON.stringify(byStatus)}`);
  });
});
