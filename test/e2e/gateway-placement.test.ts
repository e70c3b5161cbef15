// Issue 15, item 3: routes are placed on gateway nodes by rendezvous hashing. Two gateways
// share one database, one queue prefix and this machine's Docker engine. Production runs
// on both; a preview runs on the one node placement picks (its container once), and the
// other node forwards its calls there, so it answers from both gateways' URLs, run by that
// node, without the runtime ever seeing the forwarding header. Killed, that node's preview
// is taken over by the other within the reconcile period plus the node TTL. With production
// on one node of two, the other forwards its calls and still runs an execution asked of it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import { createApiToken } from "../../src/api/api-tokens.js";
import { rendezvousNodes } from "../../src/gateway/rendezvous-nodes.js";
import { pullRequestPayload, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "acme";
const repoName = "placed";
const slug = `place~${repoName}~${owner}`;

const slipwayYml = `functions:
  - id: place
    runtime: node-20
    root: fn
    commands: "true"
    execute: any
`;

const handler = (version: string) => `module.exports = async (context) => context.res.json({ version: ${JSON.stringify(version)}, forwarded: context.req.headers["x-slipway-forwarded"] ?? null, received: context.req.bodyText.length });
`;

type Answer = { status: number; version?: string; forwarded?: string | null; executionId: string | null };

const metricsToken = "placement-metrics-token-0123456789";

describe("routes are placed on gateway nodes", { timeout: 20 * 60_000 }, () => {
  let stack: SlipwayStack;
  let previewKey: string;
  let previewDeploymentId: string;
  const docker = new Docker();
  /** Gateway process name, URL and gateway_nodes id, the first gateway's first. */
  let gateways: { name: "gateway" | "gateway-2"; url: string; nodeId: string }[];

  const call = async (gatewayUrl: string, key: string, path = "/"): Promise<Answer> => {
    const response = await fetch(`${gatewayUrl}/fn/${key}${path}`).catch(() => null);
    if (!response) return { status: 0, executionId: null };
    const executionId = response.headers.get("x-slipway-execution-id");
    if (response.status !== 200) return { status: response.status, executionId };
    return { status: 200, ...((await response.json()) as { version: string; forwarded: string | null }), executionId };
  };
  const serves = (gatewayUrl: string, key: string, version: string, timeoutMs = 30_000) =>
    stack.emulator.waitFor(async () => ((await call(gatewayUrl, key)).version === version ? true : undefined), {
      timeoutMs,
      intervalMs: 250,
      message: `${gatewayUrl} serves ${version} at /fn/${key}/`,
      describe: () => stack.logs().slice(-3000),
    });
  const health = async (gatewayUrl: string) => (await (await fetch(`${gatewayUrl}/healthz`)).json()) as { routes: number; forwarded: number };
  /** The gateway node that ran a call, as the call's execution record says. */
  const ranOn = (executionId: string) =>
    stack.emulator.waitFor(async () => (await stack.db.query<{ node_id: string }>("select node_id from executions where id = $1", [executionId])).rows[0]?.node_id ?? undefined, {
      timeoutMs: 20_000,
      intervalMs: 200,
      message: `execution ${executionId} is recorded`,
    });
  const runningContainers = async (deploymentId: string) => (await docker.listContainers({ filters: { label: ["slipway.role=runtime", `slipway.deployment=${deploymentId}`], status: ["running"] } })).length;

  before(async () => {
    stack = await startSlipwayStack({
      extraGateways: 1,
      env: { SLIPWAY_ROUTE_RECONCILE_SECONDS: "2", SLIPWAY_GATEWAY_HEARTBEAT_SECONDS: "1", SLIPWAY_GATEWAY_NODE_TTL_SECONDS: "5", SLIPWAY_ROUTE_CONFIRM_SECONDS: "10", SLIPWAY_METRICS_TOKEN: metricsToken },
      // Named so that the preview (pr-1) hashes to the second gateway, while activations are
      // asked of the first (SLIPWAY_GATEWAY_URL): the first must hand the activation over.
      processEnv: { gateway: { SLIPWAY_GATEWAY_NODE_ID: "gateway-a" }, "gateway-2": { SLIPWAY_GATEWAY_NODE_ID: "gateway-b" } },
    });
    const rows = (await stack.db.query<{ id: string; url: string }>("select id, url from gateway_nodes")).rows;
    gateways = stack.gatewayUrls.map((url, index) => {
      const row = rows.find((r) => new URL(r.url).port === new URL(url).port);
      assert.ok(row, `a node registered for ${url}: ${JSON.stringify(rows)}`);
      return { name: index === 0 ? "gateway" : "gateway-2", url, nodeId: row.id };
    });

    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 9292 });
    const main = await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": slipwayYml, "fn/index.js": handler("production") }, message: "production" });
    assert.equal((await stack.deliver("push", pushPayload({ repo, before: main.before, after: main.sha, message: "production" }))).status, 202);
    await stack.emulator.commit({ owner, repo: repoName, branch: "feature", files: { "fn/index.js": handler("preview") }, message: "preview" });
    const pr = await stack.emulator.createPullRequest({ owner, repo: repoName, head: "feature" });
    assert.equal((await stack.deliver("pull_request", pullRequestPayload({ repo, number: pr.number, pullRequest: pr }))).status, 202);
    previewKey = `${slug}~pr-${pr.number}`;
    previewDeploymentId = await stack.emulator.waitFor(
      async () => (await stack.db.query<{ deployment_id: string }>("select deployment_id from aliases where name = $1", [`pr-${pr.number}`])).rows[0]?.deployment_id,
      { timeoutMs: 8 * 60_000, intervalMs: 500, message: "the preview is activated", describe: () => stack.logs().slice(-4000) },
    );
    for (const { url } of gateways) await serves(url, slug, "production");
    assert.equal(rendezvousNodes(previewKey, ["gateway-a", "gateway-b"], 1)[0], "gateway-b", `${previewKey} is placed on the second gateway`);
  });

  after(async () => {
    if (process.env.SLIPWAY_TEST_LOG_FILE && stack) (await import("node:fs")).writeFileSync(process.env.SLIPWAY_TEST_LOG_FILE, stack.logs());
    if (stack) await stack.stop();
  });

  test("production runs on every node: each gateway runs its own calls", async () => {
    for (const { url, nodeId } of gateways) {
      const answer = await call(url, slug, "/production-here");
      assert.equal(answer.version, "production");
      assert.equal(await ranOn(answer.executionId!), nodeId, `${url} ran its production call itself`);
    }
  });

  test("a preview runs on the one node placement picks; the other forwards to it, and the runtime never sees the forwarding header", async () => {
    const assignedId = rendezvousNodes(previewKey, gateways.map((g) => g.nodeId), 1)[0]!;
    const assigned = gateways.find((g) => g.nodeId === assignedId)!;
    const other = gateways.find((g) => g.nodeId !== assignedId)!;
    for (const { url } of gateways) await serves(url, previewKey, "preview");
    // Asked of the first gateway, the activation was carried out by the second, which runs it.
    assert.equal(assigned.name, "gateway-2");
    assert.doesNotMatch(stack.logs(), /did not take the activation/);
    // Two activations (production, carried out by the first; the preview, by the second), each counted once.
    const activated = async (url: string) => {
      const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })).text();
      return Number(/^slipway_activations_total\{outcome="activated"\} (\d+)/m.exec(text)?.[1] ?? 0);
    };
    assert.deepEqual([await activated(gateways[0]!.url), await activated(assigned.url)], [1, 1], "a handed-over activation counts on the node that carried it out only");
    for (const gateway of gateways) {
      const answer = await call(gateway.url, previewKey, `/from-${gateway.name}`);
      assert.equal(answer.version, "preview");
      assert.equal(answer.forwarded, null, "the runtime did not receive x-slipway-forwarded");
      assert.equal(await ranOn(answer.executionId!), assignedId, `the call to ${gateway.url} ran on ${assignedId}`);
    }
    // The assigned node serves production and the preview; the other production, and forwards the preview.
    await stack.emulator.waitFor(async () => ((await health(assigned.url)).routes === 2 && (await health(other.url)).forwarded === 1 ? true : undefined), {
      timeoutMs: 20_000,
      intervalMs: 250,
      message: "each node serves what placement gives it",
    });
    assert.deepEqual(await health(assigned.url), { ok: true, routes: 2, forwarded: 0 });
    assert.deepEqual(await health(other.url), { ok: true, routes: 1, forwarded: 1 });
    assert.equal(await runningContainers(previewDeploymentId), 1, "the preview's container runs once");
    // Its immutable URL is called on the same container, from either gateway.
    for (const gateway of gateways) {
      const response = await fetch(`${gateway.url}/d/${previewDeploymentId}/`);
      assert.equal(response.status, 200);
      assert.equal(((await response.json()) as { version: string }).version, "preview");
      assert.equal(await ranOn(response.headers.get("x-slipway-execution-id")!), assignedId, `/d/ via ${gateway.url}`);
    }
    // A body goes on whole, declared or chunked.
    const body = "x".repeat(300_000);
    for (const sent of [body, new Blob([body]).stream()]) {
      const response = await fetch(`${other.url}/fn/${previewKey}/upload`, { method: "POST", body: sent, ...(typeof sent === "string" ? {} : { duplex: "half" }) } as RequestInit);
      assert.equal(response.status, 200);
      assert.equal(((await response.json()) as { received: number }).received, body.length);
      assert.equal(await ranOn(response.headers.get("x-slipway-execution-id")!), assignedId);
    }
  });

  test("a forged forwarding header is not trusted: the call is still run by the assigned node", async () => {
    const assignedId = rendezvousNodes(previewKey, gateways.map((g) => g.nodeId), 1)[0]!;
    const other = gateways.find((g) => g.nodeId !== assignedId)!;
    const response = await fetch(`${other.url}/fn/${previewKey}/forged`, { headers: { "x-slipway-forwarded": `${previewDeploymentId}.${Math.floor(Date.now() / 1000)}.${"A".repeat(43)}` } });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { forwarded: string | null };
    assert.equal(body.forwarded, null);
    assert.equal(await ranOn(response.headers.get("x-slipway-execution-id")!), assignedId);
  });

  test("killed, the assigned node's preview is taken over by the other within the reconcile period plus the node TTL", async () => {
    const assignedId = rendezvousNodes(previewKey, gateways.map((g) => g.nodeId), 1)[0]!;
    const assigned = gateways.find((g) => g.nodeId === assignedId)!;
    const survivor = gateways.find((g) => g.nodeId !== assignedId)!;
    assert.equal((await health(survivor.url)).forwarded, 1, "before: the survivor forwards the preview");
    await stack.kill(assigned.name, "SIGKILL");
    // Its nginx follows it (SIGTERM on its parent's death): the node is down once its port refuses.
    await stack.emulator.waitFor(async () => ((await fetch(`${assigned.url}/healthz`).then(() => false, () => true)) ? true : undefined), { timeoutMs: 20_000, intervalMs: 100, message: `${assigned.url} refuses connections` });
    // At once, before placement has moved it: the node it was placed on refuses connections,
    // so the survivor serves the call itself rather than answer 502.
    const meanwhile = await call(survivor.url, previewKey, "/while-the-node-is-dead");
    assert.equal(meanwhile.version, "preview", JSON.stringify(meanwhile));
    assert.equal(await ranOn(meanwhile.executionId!), survivor.nodeId);
    // TTL 5 s and reconcile 2 s, plus a cold start on a busy machine: bounded, not timed.
    await stack.emulator.waitFor(async () => ((await health(survivor.url)).routes === 2 ? true : undefined), {
      timeoutMs: 90_000,
      intervalMs: 250,
      message: `${survivor.url} serves the preview itself`,
      describe: () => stack.logs().slice(-3000),
    });
    assert.deepEqual(await health(survivor.url), { ok: true, routes: 2, forwarded: 0 });
    const answer = await call(survivor.url, previewKey, "/after-takeover");
    assert.equal(answer.version, "preview");
    assert.equal(await ranOn(answer.executionId!), survivor.nodeId);
  });
});

describe("production on one node of two (SLIPWAY_PRODUCTION_NODES=1)", { timeout: 20 * 60_000 }, () => {
  let stack: SlipwayStack;
  let functionId: string;
  let deploymentId: string;
  const docker = new Docker();

  before(async () => {
    stack = await startSlipwayStack({ extraGateways: 1, env: { SLIPWAY_ROUTE_RECONCILE_SECONDS: "2", SLIPWAY_PRODUCTION_NODES: "1" } });
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 9293 });
    const main = await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": slipwayYml, "fn/index.js": handler("production") }, message: "production" });
    assert.equal((await stack.deliver("push", pushPayload({ repo, before: main.before, after: main.sha, message: "production" }))).status, 202);
    const row = await stack.emulator.waitFor(
      async () => (await stack.db.query<{ deployment_id: string; function_id: string }>("select deployment_id, function_id from aliases where name = 'production'")).rows[0],
      { timeoutMs: 8 * 60_000, intervalMs: 500, message: "production is activated", describe: () => stack.logs().slice(-4000) },
    );
    functionId = row.function_id;
    deploymentId = row.deployment_id;
  });

  after(async () => {
    if (process.env.SLIPWAY_TEST_LOG_FILE && stack) (await import("node:fs")).writeFileSync(`${process.env.SLIPWAY_TEST_LOG_FILE}.production`, stack.logs());
    if (stack) await stack.stop();
  });

  test("both gateways serve it, one runs it and the other forwards; an execution asked of the other still runs", async () => {
    for (const url of stack.gatewayUrls) {
      await stack.emulator.waitFor(
        async () => {
          const response = await fetch(`${url}/fn/${slug}/`).catch(() => null);
          return response?.status === 200 && ((await response.json()) as { version: string }).version === "production" ? true : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 250, message: `${url} serves production`, describe: () => stack.logs().slice(-3000) },
      );
    }
    const healths = async () => Promise.all(stack.gatewayUrls.map(async (url) => (await (await fetch(`${url}/healthz`)).json()) as { routes: number; forwarded: number }));
    await stack.emulator.waitFor(async () => ((await healths()).filter((h) => h.routes === 1 && h.forwarded === 0).length === 1 ? true : undefined), { timeoutMs: 20_000, intervalMs: 250, message: "one node runs production" });
    const states = await healths();
    const other = stack.gatewayUrls[states.findIndex((h) => h.forwarded === 1)];
    assert.ok(other, JSON.stringify(states));
    const running = await docker.listContainers({ filters: { label: ["slipway.role=runtime", `slipway.deployment=${deploymentId}`], status: ["running"] } });
    assert.equal(running.length, 1, "production's container runs once");

    const server = (await createApiToken(stack.db, { name: "operator", kind: "server" })).token;
    const response = await fetch(`${other}/v1/functions/${functionId}/executions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${server}` },
      body: JSON.stringify({ path: "/queued", method: "GET" }),
    });
    const body = (await response.json()) as { status?: string; responseBody?: string };
    assert.ok(response.status < 300, JSON.stringify(body));
    assert.equal(body.status, "completed", JSON.stringify(body));
    assert.equal((JSON.parse(body.responseBody!) as { version: string }).version, "production");
  });

  test("on one Docker engine, the node that ran an execution leaves production's runtime to the node that serves it after its grace period", async () => {
    const [before] = await docker.listContainers({ filters: { label: ["slipway.role=runtime", `slipway.deployment=${deploymentId}`], status: ["running"] } });
    assert.ok(before, "production's runtime runs");
    const startedAt = (await docker.getContainer(before.Id).inspect()).State.StartedAt;
    // The executing node's grace period (5 s in test stacks) ends with this decision.
    // Either way it is logged: left running for the other node, or parked after the grace period.
    await stack.emulator.waitFor(() => (/another gateway on this engine serves it|stopped a deployment after its grace period/.test(stack.logs()) ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 250,
      message: "the executing node decided about the runtime after its grace period",
      describe: () => stack.logs().slice(-3000),
    });
    const after = await docker.getContainer(before.Id).inspect();
    assert.equal(after.State.Running, true, "the serving node's runtime was not parked under it");
    assert.equal(after.State.StartedAt, startedAt, "nor stopped and started again");
    for (const url of stack.gatewayUrls) {
      const response = await fetch(`${url}/fn/${slug}/`);
      assert.equal(response.status, 200, url);
    }
  });
});
