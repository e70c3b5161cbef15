// Issue 6, the gateway's native data plane (SLIPWAY_DATA_PLANE=nginx, which every stack
// test runs on): nginx serves public function URLs straight to the runtime with the same
// execution headers the gateway's own proxy sends, and clients cannot forge them; the
// calls are recorded from nginx's access log; an activation has reached nginx when it
// answers; public URLs keep serving while the gateway's process is paused, and nginx dies
// with a gateway killed outright.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { authenticateToken, createApiToken } from "../../src/api/api-tokens.js";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "acme";
const repoName = "edge";
const openSlug = `open~${repoName}~${owner}`;
const guardedSlug = `guarded~${repoName}~${owner}`;

const slipwayYml = `functions:
  - id: open
    runtime: node-20
    root: open
    commands: "true"
    execute: any
  - id: guarded
    runtime: node-20
    root: guarded
    commands: "true"
    execute: users
`;

const handler = (version: string) => `module.exports = async (context) => {
  const headers = Object.fromEntries(Object.entries(context.req.headers).filter(([name]) => name.startsWith("x-")));
  if (context.req.path === "/log") context.log("logged by " + context.req.headers["x-slipway-execution-id"]);
  return context.res.json({ version: ${JSON.stringify(version)}, path: context.req.path, query: context.req.query, url: context.req.url, headers });
};
`;

const files = (version: string) => ({
  "slipway.yml": slipwayYml,
  "open/index.js": handler(version),
  "guarded/index.js": handler(version),
});

function portRefuses(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname, port: Number(port) });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}

describe("nginx data plane", { timeout: 15 * 60_000 }, () => {
  let stack: SlipwayStack;
  let server: string;
  let repo: Awaited<ReturnType<SlipwayStack["emulator"]["createRepo"]>>;
  const versions: Record<string, string> = {};

  async function push(version: string) {
    const commit = await stack.emulator.commit({ owner, repo: repoName, files: files(version), message: version });
    const payload = pushPayload({ repo, before: commit.before, after: commit.sha, message: version });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload, secret: stack.webhookSecret, deliveryId: randomUUID() });
    const row = await stack.emulator.waitFor(
      async () =>
        (
          await stack.db.query<{ id: string }>(
            `select d.id from deployments d join functions f on f.id = d.function_id join aliases a on a.deployment_id = d.id
              where f.name = 'open' and a.name = 'production' and d.commit_sha = $1`,
            [commit.sha],
          )
        ).rows[0],
      { timeoutMs: 8 * 60_000, intervalMs: 500, describe: () => stack.logs().slice(-4000) },
    );
    versions[version] = row.id;
    // The alias row changes a moment before the activation has answered.
    await stack.emulator.waitFor(async () => ((await (await call(openSlug)).json()) as { version: string }).version === version || undefined, { timeoutMs: 10_000, intervalMs: 50 });
  }

  before(async () => {
    // A second gateway: a switch answered by the first is served by both.
    stack = await startSlipwayStack({ extraGateways: 1 });
    server = (await createApiToken(stack.db, { name: "operator", kind: "server" })).token;
    repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 8181 });
    await push("v1");
    await push("v2");
  });

  after(async () => {
    if (stack) await stack.stop();
  });

  const call = (slug: string, path = "/", init: RequestInit = {}) => fetch(`${stack.gatewayUrl}/fn/${slug}${path}`, init);
  const dataPlaneDir = () => join(stack.env.SLIPWAY_ARTIFACT_DIR!, "nginx-gateway");
  /** Whether nginx proxied these calls itself: each is a line of its call log. */
  const servedByNginx = (ids: string[]) => stack.emulator.waitFor(
    () => {
      const logged = readFileSync(join(dataPlaneDir(), "calls.log"), "utf8");
      return ids.every((id) => logged.includes(id)) || undefined;
    },
    { timeoutMs: 5_000, intervalMs: 50, message: "nginx served the calls itself" },
  );

  test("nginx serves a public URL with the gateway's execution headers, which a client cannot forge, and the call is recorded", async () => {
    const response = await call(openSlug, "/a%20b/c?x=1&y=%2F", {
      headers: {
        "x-slipway-execution-id": "forged",
        "x-slipway-trigger": "schedule",
        "x-slipway-schedule": "* * * * *",
        "x-slipway-event": "deployments.forged",
        "x-slipway-key": "slw_forgedforgedforgedforgedforgedforged",
        "x-open-runtimes-log-id": "forged",
        "x-open-runtimes-secret": "forged",
        "x-custom": "kept",
      },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("server"), "nginx", "nginx answered, not the gateway's own proxy");
    const id = response.headers.get("x-slipway-execution-id")!;
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const seen = (await response.json()) as { version: string; path: string; url: string; headers: Record<string, string> };
    assert.equal(seen.version, "v2");
    assert.equal(seen.path, "/a%20b/c", "the path reaches the function as the client sent it");
    assert.ok(seen.url.endsWith("/a%20b/c?x=1&y=%2F"), seen.url);
    assert.equal(seen.headers["x-slipway-execution-id"], id);
    assert.equal(seen.headers["x-slipway-trigger"], "http");
    assert.equal(seen.headers["x-slipway-schedule"], undefined, "a schedule header is the scheduler's alone");
    assert.equal(seen.headers["x-slipway-event"], undefined, "an event header is the event bus's alone");
    assert.equal(seen.headers["x-custom"], "kept");
    assert.ok(seen.headers["x-forwarded-host"]?.startsWith("127.0.0.1:"));
    assert.deepEqual(Object.keys(seen.headers).filter((name) => name.startsWith("x-open-runtimes-")), [], "the runtime's own headers stay hidden");
    // Platform headers the contract does not name, which nginx cannot clear by name: the
    // call goes through the gateway's own proxy, which drops them by prefix.
    const posing = await call(openSlug, "/", { headers: { "x-appwrite-project": "forged", "X-Slipway-Tenant": "forged", "x-open-runtimes-env": "forged", "x-custom": "kept" } });
    assert.equal(posing.status, 200);
    const seenPosing = (await posing.json()) as { headers: Record<string, string> };
    assert.deepEqual(Object.entries(seenPosing.headers).filter(([, value]) => value === "forged"), [], "no forged platform header reaches the runtime");
    assert.equal(seenPosing.headers["x-custom"], "kept");
    assert.equal(seenPosing.headers["x-slipway-trigger"], "http");
    const functionId = seen.headers["x-slipway-function-id"]!;
    const principal = await authenticateToken(stack.db, `Bearer ${seen.headers["x-slipway-key"]}`);
    assert.equal(principal?.kind, "execution", "the function's key is a real execution key");
    assert.equal(principal?.functionId, functionId);

    const logged = await call(openSlug, "/log", { method: "POST", body: "{}" });
    const loggedId = logged.headers.get("x-slipway-execution-id")!;
    await logged.arrayBuffer();
    for (const [executionId, method, path, logs] of [
      [id, "GET", "/a%20b/c?x=1&y=%2F", ""],
      [loggedId, "POST", "/log", `logged by ${loggedId}\n`],
    ] as const) {
      const row = await stack.emulator.waitFor(
        async () => {
          const found = await fetch(`${stack.gatewayUrl}/v1/executions/${executionId}`, { headers: { authorization: `Bearer ${server}` } });
          return found.status === 200 ? ((await found.json()) as Record<string, any>) : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      assert.equal(row.trigger, "http");
      assert.equal(row.status, "completed");
      assert.equal(row.functionId, functionId);
      assert.equal(row.deploymentId, versions.v2);
      assert.equal(row.requestMethod, method);
      assert.equal(row.requestPath, path);
      assert.equal(row.responseStatusCode, 200);
      assert.equal(row.logs, logs);
    }
  });

  test("a function that needs a token: nginx serves a call the gateway allows, and the gateway refuses the others with the reason", async () => {
    const refused = await call(guardedSlug, "/");
    assert.equal(refused.status, 401);
    assert.match(((await refused.json()) as { error: string }).error, /needs any API token/);
    const forged = await call(guardedSlug, "/", { headers: { authorization: "Bearer slw_forgedforgedforgedforgedforgedforged" } });
    assert.equal(forged.status, 401);
    const allowed = await call(guardedSlug, "/", { headers: { authorization: `Bearer ${server}` } });
    assert.equal(allowed.status, 200);
    assert.equal(((await allowed.json()) as { version: string }).version, "v2");
    // nginx's call log holds what nginx proxied itself: the allowed call, not the refused ones.
    await servedByNginx([allowed.headers.get("x-slipway-execution-id")!]);
    const logged = readFileSync(join(dataPlaneDir(), "calls.log"), "utf8");
    for (const response of [refused, forged]) assert.ok(!logged.includes(response.headers.get("x-slipway-execution-id") ?? "none"), "a refused call went to the gateway");
  });

  test("an activation has reached every gateway's nginx when it answers: each switch serves the next request on both, with no reload", async () => {
    const nginxPid = readFileSync(join(dataPlaneDir(), "nginx.pid"), "utf8").trim();
    const workers = () => readFileSync(`/proc/${nginxPid}/task/${nginxPid}/children`, "utf8").trim();
    const workersBefore = workers();
    const ids: string[] = [];
    for (const version of ["v1", "v2", "v1", "v2"]) {
      const activated = await fetch(`${stack.gatewayUrl}/v1/activations`, {
        method: "POST",
        headers: { authorization: `Bearer ${stack.gatewaySecret}`, "content-type": "application/json" },
        body: JSON.stringify({ deploymentId: versions[version], alias: "production", via: "api" }),
      });
      assert.equal(activated.status, 200, await activated.clone().text());
      assert.equal(((await activated.json()) as { activated: boolean }).activated, true);
      // The other gateway first: it heard of the switch from this one, which answered only once it confirmed.
      const other = await fetch(`${stack.gatewayUrls[1]}/fn/${openSlug}/`);
      assert.equal(((await other.json()) as { version: string }).version, version, "the other gateway serves the switch too");
      const response = await call(openSlug);
      ids.push(response.headers.get("x-slipway-execution-id")!);
      assert.equal(((await response.json()) as { version: string }).version, version);
    }
    await servedByNginx(ids);
    assert.equal(workers(), workersBefore, "nginx's workers are the same processes: a switch reloads nothing");
    assert.match(readFileSync(join(dataPlaneDir(), "routes", openSlug), "utf8"), new RegExp(`^slipway-route-1 open \\S+ \\S+ \\S+ ${versions.v2} `));
  });

  test("with the gateway's process paused, public URLs still serve and token-protected ones wait for it", async () => {
    stack.signal("gateway", "SIGSTOP");
    let pausedId: string;
    try {
      const open = await call(openSlug, "/", { signal: AbortSignal.timeout(5000) });
      assert.equal(open.status, 200);
      pausedId = open.headers.get("x-slipway-execution-id")!;
      await open.arrayBuffer();
      await assert.rejects(call(guardedSlug, "/", { headers: { authorization: `Bearer ${server}` }, signal: AbortSignal.timeout(1500) }), /aborted|timeout/i);
    } finally {
      stack.signal("gateway", "SIGCONT");
    }
    // nginx logged the call while the gateway was paused; the gateway records it now.
    const row = await stack.emulator.waitFor(
      async () => (await stack.db.query<{ status: string }>("select status from executions where id = $1", [pausedId])).rows[0],
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.equal(row.status, "completed");
  });

  test("nginx dies with a gateway killed outright, and the next gateway serves again", async () => {
    await stack.kill("gateway", "SIGKILL");
    await stack.emulator.waitFor(async () => ((await portRefuses(stack.gatewayUrl)) ? true : undefined), { timeoutMs: 10_000, intervalMs: 100, message: "nginx let go of the gateway's port" });
    await stack.spawnRole("gateway");
    const response = await call(openSlug, "/");
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("server"), "nginx");
    assert.equal(((await response.json()) as { version: string }).version, "v2");
  });
});
