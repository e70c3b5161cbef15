// Issue 15, item 5: two nodes on one machine, each with its own Docker engine. Node A is a
// gateway and a worker on a second dockerd (test/support/start-docker-engine.ts) with sandbox
// bridges of its own; node B is the stack's first gateway and worker on the machine's engine.
// Each node has its own artifact cache and nginx; PostgreSQL, Redis and the S3 server
// (versitygw) are shared. Shown: node A's sandbox bridges are its own and firewalled (the
// script run for its pair, the default pair's rules untouched); (a) a build made on node A is served by node B; (b) a
// rollback is served by both nodes by the time it is reported; (e) a node stopped during two
// deploys serves the newest one within seconds of coming back; (d) with every Redis key of the
// stack deleted, routes and schedules come back; (c) killing node A's gateway, worker and
// engine at once leaves node B serving, and every execution in flight ends once: completed,
// or failed naming node A for one that was running there, none run twice.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { Queue } from "bullmq";
import Docker from "dockerode";
import { Redis } from "ioredis";
import { createApiToken } from "../../src/api/api-tokens.js";
import { scheduleQueueName, scheduleSchedulerId } from "../../src/executions/execution-queues.js";
import { checkSandboxFirewall } from "../../src/sandbox/check-sandbox-firewall.js";
import { buildNetworkOf, runtimeNetworkOf } from "../../src/sandbox/sandbox-networks.js";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startDockerEngine, type DockerEngine } from "../support/start-docker-engine.js";
import { startS3Server, type S3Server } from "../support/start-s3-server.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const run = promisify(execFile);
const owner = "twin-co";
const repoName = "twins";
const slug = `twin~${repoName}~${owner}`;
const schedule = "41 4 * * *";
const runtimeImage = `slipway/runtime-node-20:${process.env.SLIPWAY_TEST_RUNTIME_TAG ?? "local"}`;
// Node A's engine and sandbox bridges, named for this run: interface names are global to the
// host, and another run of this file may be under way. Its engine picks an address pool no
// other engine here uses (overlapping subnets on one host break routing).
const runId = randomBytes(2).toString("hex");
const runtimePortsFrom = 20_000 + (parseInt(runId, 16) % 80) * 100;
const nodeABridges = { SLIPWAY_BUILD_BRIDGE: `sw${runId}-build`, SLIPWAY_RUNTIME_BRIDGE: `sw${runId}-run` };
// Every run of the function is appended to a file of its logs volume, which outlives the
// engine (a volume's data is a folder of the engine's data root), so runs can be counted on a
// dead node too.
const ranFile = "/mnt/logs/slipway-test-ran.txt";

const slipwayYml = `functions:
  - id: twin
    runtime: node-20
    root: fn
    commands: "true"
    execute: any
    timeout: 60
    schedule: "${schedule}"
`;

const handler = (version: string) => `const fs = require("node:fs");
module.exports = async (context) => {
  const id = context.req.headers["x-slipway-execution-id"];
  fs.appendFileSync(${JSON.stringify(ranFile)}, id + "\\n");
  if (context.req.path === "/slow") await new Promise((resolve) => setTimeout(resolve, 40000));
  return context.res.json({ version: ${JSON.stringify(version)}, id });
};
`;

describe("two nodes, each with its own Docker engine", { timeout: 10 * 60_000 }, () => {
  let s3: S3Server;
  let engine: DockerEngine;
  let stack: SlipwayStack;
  let caches: string;
  let server: string;
  let repo: Awaited<ReturnType<SlipwayStack["emulator"]["createRepo"]>>;
  let functionId = "";
  let defaultRulesBefore: string[] = [];
  const main = new Docker();
  const versions: Record<string, string> = {};

  // Node B: the stack's first gateway and worker; node A: gateway-2 and worker-2.
  const nodeB = () => stack.gatewayUrls[0]!;
  const nodeA = () => stack.gatewayUrls[1]!;

  const waitFor = <T>(fn: () => T | Promise<T>, message: string, timeoutMs = 30_000) =>
    stack.emulator.waitFor(fn, { timeoutMs, intervalMs: 200, message, describe: () => stack.logs().slice(-4000) });

  async function push(version: string): Promise<string> {
    const commit = await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": slipwayYml, "fn/index.js": handler(version) }, message: version });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: version }), secret: stack.webhookSecret, deliveryId: randomUUID() });
    const row = await waitFor(
      async () =>
        (await stack.db.query<{ id: string; function_id: string }>("select d.id, d.function_id from deployments d join aliases a on a.deployment_id = d.id where a.name = 'production' and d.commit_sha = $1", [commit.sha])).rows[0],
      `${version} goes live`,
      4 * 60_000,
    );
    versions[version] = row.id;
    functionId = row.function_id;
    return row.id;
  }

  const call = async (gatewayUrl: string, path = "/") => {
    const response = await fetch(`${gatewayUrl}/fn/${slug}${path}`).catch(() => null);
    if (response?.status !== 200) return undefined;
    return (await response.json()) as { version: string; id: string };
  };
  const versionAt = async (gatewayUrl: string) => (await call(gatewayUrl))?.version;
  const serves = (gatewayUrl: string, version: string, timeoutMs = 30_000) =>
    waitFor(async () => (await versionAt(gatewayUrl)) === version || undefined, `${gatewayUrl} serves ${version}`, timeoutMs);

  /** Running runtime containers of a deployment on one engine. */
  const runtimesOn = async (docker: Docker, deploymentId: string) =>
    docker.listContainers({ filters: { label: [`slipway.deployment=${deploymentId}`, "slipway.role=runtime"] } });

  /** Containers made for a deployment on an engine since a time (a build's, say). */
  async function createdOn(docker: Docker, deploymentId: string, since: number): Promise<{ role?: string }[]> {
    const stream = (await docker.getEvents({
      since: Math.floor(since / 1000),
      until: Math.ceil(Date.now() / 1000),
      filters: { type: ["container"], event: ["create"], label: [`slipway.deployment=${deploymentId}`] },
    })) as NodeJS.ReadableStream;
    let text = "";
    for await (const chunk of stream) text += chunk.toString();
    return text
      .split("\n")
      .filter(Boolean)
      .map((line) => ({ role: (JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } }).Actor?.Attributes?.["slipway.role"] }));
  }

  /** The default bridges' rules (scripts/sandbox-firewall.sh's chains without a pair's hash). */
  const defaultPairRules = async () =>
    (await run("iptables", ["-S"])).stdout.split("\n").filter((line) => /SLIPWAY-SANDBOX(-INTO|-OUT|-HOST)?( |$)/.test(line));

  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${stack.appUrl}${path}`, { ...init, headers: { authorization: `Bearer ${server}`, "content-type": "application/json", ...(init.headers ?? {}) } });

  before(async () => {
    s3 = await startS3Server();
    caches = await mkdtemp(join(tmpdir(), "slipway-two-engines-"));
    defaultRulesBefore = await defaultPairRules();
    // Node A's bridges get the sandbox rules too (scripts/sandbox-firewall.sh for that pair).
    engine = await startDockerEngine({
      name: `node-a-${runId}`,
      images: [runtimeImage],
      sandboxBridges: { build: nodeABridges.SLIPWAY_BUILD_BRIDGE, runtime: nodeABridges.SLIPWAY_RUNTIME_BRIDGE },
    });
    const cache = (name: string) => ({ SLIPWAY_ARTIFACT_CACHE_DIR: join(caches, name) });
    const nodeAEnv = {
      ...nodeABridges,
      DOCKER_HOST: engine.host,
      // A port range of its own: both engines publish on this host's loopback (below the
      // ephemeral ports, and per run, as another run's node A may be publishing too).
      SLIPWAY_RUNTIME_PORTS: `${runtimePortsFrom}-${runtimePortsFrom + 99}`,
      ...cache("node-a"),
    };
    stack = await startSlipwayStack({
      env: {
        ...s3.env("slipway/"),
        SLIPWAY_ROUTE_RECONCILE_SECONDS: "2",
        SLIPWAY_ROUTE_CONFIRM_SECONDS: "20",
        SLIPWAY_SCHEDULE_RECONCILE_SECONDS: "2",
        SLIPWAY_GATEWAY_HEARTBEAT_SECONDS: "1",
        SLIPWAY_GATEWAY_NODE_TTL_SECONDS: "6",
        SLIPWAY_GATEWAY_NODE_LOST_SECONDS: "10",
      },
      extraGateways: 1,
      extraWorkers: 1,
      processEnv: {
        app: cache("app"),
        gateway: { ...cache("node-b"), SLIPWAY_GATEWAY_NODE_ID: "node-b" },
        worker: cache("node-b"),
        "gateway-2": { ...nodeAEnv, SLIPWAY_GATEWAY_NODE_ID: "node-a" },
        "worker-2": nodeAEnv,
      },
    });
    server = (await createApiToken(stack.db, { name: "operator", kind: "server" })).token;
    repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 7373 });
  });

  after(async () => {
    if (process.env.SLIPWAY_TEST_LOG_FILE && stack) (await import("node:fs")).writeFileSync(process.env.SLIPWAY_TEST_LOG_FILE, stack.logs());
    if (stack) await stack.stop().catch((error) => console.error("stopping the stack:", error));
    if (engine) await engine.stop().catch((error) => console.error("stopping the second engine:", error));
    if (s3) await s3.stop();
    if (caches) await rm(caches, { recursive: true, force: true });
  });

  test("node A's sandbox networks are on bridges of their own, in its own address pool, and firewalled", async () => {
    for (const network of [buildNetworkOf(nodeABridges), runtimeNetworkOf(nodeABridges)]) {
      const info = (await engine.docker.getNetwork(network.name).inspect()) as Docker.NetworkInspectInfo;
      assert.equal(info.Options?.["com.docker.network.bridge.name"], network.bridge);
      const pool = engine.addressPool.split(".").slice(0, 2).join(".");
      assert.ok(info.IPAM?.Config?.[0]?.Subnet?.startsWith(`${pool}.`), `${network.name} is in node A's pool ${engine.addressPool}: ${JSON.stringify(info.IPAM)}`);
      const check = await checkSandboxFirewall(engine.docker, network, runtimeImage);
      assert.ok(check.inPlace, `${network.bridge}: ${check.detail}`);
    }
    assert.ok(defaultRulesBefore.length > 0, "the default pair has rules (scripts/setup.sh)");
    assert.deepEqual(await defaultPairRules(), defaultRulesBefore, "the default pair's rules are as they were");
    // Node B's keep their default names on the machine's engine.
    const mainRuntime = (await main.getNetwork("slipway-runtime").inspect()) as Docker.NetworkInspectInfo;
    assert.equal(mainRuntime.Options?.["com.docker.network.bridge.name"], "slipway-runtime");
    // The main engine's default bridge is untouched (a dockerd with --bridge=none deletes docker0).
    const mainBridge = (await main.getNetwork("bridge").inspect()) as Docker.NetworkInspectInfo;
    const bridgeName = mainBridge.Options?.["com.docker.network.bridge.name"] ?? "docker0";
    await run("ip", ["link", "show", bridgeName]).catch((error: Error) => assert.fail(`the main engine's bridge ${bridgeName} is gone: ${error.message}`));
  });

  test("(a) a build made on node A is served by node B from node B's engine", async () => {
    const since = Date.now() - 1000;
    // Node B's worker is paused, so node A's worker takes the build.
    stack.signal("worker", "SIGSTOP");
    let v1: string;
    try {
      v1 = await push("v1");
    } finally {
      stack.signal("worker", "SIGCONT");
    }
    const builds = async (docker: Docker) => (await createdOn(docker, v1, since)).filter((e) => e.role === "build");
    assert.ok((await builds(engine.docker)).length > 0, "node A's engine ran the build");
    assert.deepEqual(await builds(main), [], "node B's engine ran no build for it");

    await serves(nodeB(), "v1");
    assert.equal((await runtimesOn(main, v1)).length, 1, "node B runs it on its own engine");
    await serves(nodeA(), "v1");
    assert.equal((await runtimesOn(engine.docker, v1)).length, 1, "node A runs it on its own engine");
  });

  test("(b) a rollback is served by both nodes by the time it is reported", async () => {
    await push("v2");
    await serves(nodeB(), "v2");
    await serves(nodeA(), "v2");
    const response = await api(`/v1/functions/${functionId}/rollback`, { method: "POST", body: JSON.stringify({ target: versions.v1 }) });
    assert.equal(response.status, 200, await response.clone().text());
    const result = (await response.json()) as { laggingGateways?: unknown[] };
    assert.deepEqual(result.laggingGateways ?? [], [], JSON.stringify(result));
    // Asked once each, right away: no waiting.
    assert.equal(await versionAt(nodeB()), "v1", "node B serves the rollback when it is reported");
    assert.equal(await versionAt(nodeA()), "v1", "node A serves the rollback when it is reported");
    // Pushes go live again.
    const promoted = await api(`/v1/functions/${functionId}/promote`, { method: "POST", body: "{}" });
    assert.equal(promoted.status, 200, await promoted.clone().text());
    assert.equal(await versionAt(nodeB()), "v2");
    assert.equal(await versionAt(nodeA()), "v2");
  });

  test("a prewarm asked of one node starts the deployment on the other node's engine too, as an activation does", async () => {
    const v1 = versions.v1!;
    // Promoted away from in (b), v1 retires on both engines after the grace period.
    await waitFor(async () => ((await runtimesOn(engine.docker, v1)).length === 0 && (await runtimesOn(main, v1)).length === 0) || undefined, "v1 has retired on both engines", 60_000);
    const response = await fetch(`${nodeB()}/v1/prewarm`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.gatewaySecret}`, "content-type": "application/json" },
      body: JSON.stringify({ deploymentId: v1 }),
    });
    assert.equal(response.status, 202, await response.text());
    await waitFor(async () => (await runtimesOn(main, v1)).length === 1 || undefined, "node B warms v1 on its engine");
    await waitFor(async () => (await runtimesOn(engine.docker, v1)).length === 1 || undefined, "node A, told by node B, warms v1 on its own engine");
    assert.equal(await versionAt(nodeA()), "v2", "warming switches nothing");
  });

  test("(e) a node stopped during two deploys serves the newest within seconds of coming back", async () => {
    await stack.kill("gateway-2");
    await push("v3");
    await push("v4");
    await serves(nodeB(), "v4");
    await stack.spawnRole("gateway-2");
    await serves(nodeA(), "v4", 15_000);
    assert.equal((await runtimesOn(engine.docker, versions.v4!)).length, 1, "on node A's engine");
  });

  test("(d) with every Redis key of the stack deleted, routes and schedules come back", async () => {
    const redis = new Redis(stack.env.REDIS_URL!, { maxRetriesPerRequest: null });
    const prefix = stack.env.SLIPWAY_QUEUE_PREFIX!;
    const schedules = new Queue(scheduleQueueName, { connection: redis, prefix });
    try {
      const registered = async () => ((await schedules.getJobScheduler(scheduleSchedulerId(functionId)))?.pattern === schedule ? true : undefined);
      await waitFor(registered, "the production schedule is registered");
      // Only this stack's keys: the machine's Redis is shared (never FLUSHALL).
      let cursor = "0";
      let deleted = 0;
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
        cursor = next;
        if (keys.length) deleted += await redis.unlink(...keys);
      } while (cursor !== "0");
      assert.ok(deleted > 0, "the stack had keys under its prefix");
      await waitFor(registered, "the schedule came back");
      // Both nodes still serve, and a switch made now reaches both before it is reported.
      assert.equal(await versionAt(nodeB()), "v4");
      assert.equal(await versionAt(nodeA()), "v4");
      const response = await api(`/v1/functions/${functionId}/rollback`, { method: "POST", body: JSON.stringify({ target: versions.v3 }) });
      assert.equal(response.status, 200, await response.clone().text());
      assert.equal(await versionAt(nodeB()), "v3");
      assert.equal(await versionAt(nodeA()), "v3");
      const promoted = await api(`/v1/functions/${functionId}/promote`, { method: "POST", body: "{}" });
      assert.equal(promoted.status, 200, await promoted.clone().text());
      assert.equal(await versionAt(nodeB()), "v4");
      assert.equal(await versionAt(nodeA()), "v4");
      // Queued executions run again.
      const id = await runAsync(nodeB());
      const done = await ended([id]);
      assert.equal(done.get(id)?.status, "completed");
    } finally {
      await schedules.close();
      redis.disconnect();
    }
  });

  /** Queues an async execution through a gateway's API; returns its id. */
  async function runAsync(gatewayUrl: string, path = "/"): Promise<string> {
    const response = await fetch(`${gatewayUrl}/v1/functions/${functionId}/executions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${server}` },
      body: JSON.stringify({ async: true, path }),
    });
    assert.equal(response.status, 202, await response.clone().text());
    return ((await response.json()) as { id: string }).id;
  }

  /** Waits until every one of these executions has ended; their rows. */
  async function ended(ids: string[], timeoutMs = 60_000) {
    return waitFor(
      async () => {
        const rows = (await stack.db.query<{ id: string; status: string; errors: string | null; node_id: string | null }>("select id, status, errors, node_id from executions where id = any($1)", [ids])).rows;
        const done = rows.filter((r) => !["scheduled", "waiting", "processing"].includes(r.status));
        return done.length === ids.length ? new Map(done.map((r) => [r.id, r])) : undefined;
      },
      `${ids.length} executions end`,
      timeoutMs,
    );
  }

  /** Lines of the runs file of every runtime of this function on node B's (live) engine. */
  async function runsOnNodeB(): Promise<string[]> {
    const ids = Object.values(versions);
    const containers = (await main.listContainers({ filters: { label: ["slipway.role=runtime"] } })).filter((c) => ids.includes(c.Labels["slipway.deployment"] ?? ""));
    const lines: string[] = [];
    for (const container of containers) {
      const exec = await main.getContainer(container.Id).exec({ Cmd: ["sh", "-c", `cat ${ranFile} 2>/dev/null; true`], AttachStdout: true, AttachStderr: true, Tty: true });
      const stream = await exec.start({ Tty: true });
      let text = "";
      for await (const chunk of stream) text += chunk.toString();
      lines.push(...text.replace(/\r/g, "").split("\n").filter(Boolean));
    }
    return lines;
  }

  /** The same from node A's engine, alive or killed: its volumes are folders of its data root. */
  async function runsOnNodeA(): Promise<string[]> {
    const volumes = join(engine.dataRoot, "volumes");
    const lines: string[] = [];
    for (const volume of await readdir(volumes, { withFileTypes: true })) {
      if (!volume.isDirectory()) continue;
      const text = await readFile(join(volumes, volume.name, "_data", "slipway-test-ran.txt"), "utf8").catch(() => "");
      lines.push(...text.split("\n").filter(Boolean));
    }
    return lines;
  }

  test("(c) node A's gateway, worker and engine killed at once: node B serves on, and every execution ends once", async () => {
    // Warm on both nodes.
    assert.equal(await versionAt(nodeB()), "v4");
    assert.equal(await versionAt(nodeA()), "v4");
    // A slow execution running on node A: with node B's gateway paused, only node A claims it.
    stack.signal("gateway", "SIGSTOP");
    let slow: string;
    try {
      slow = await runAsync(nodeA(), "/slow");
      await waitFor(async () => (await stack.db.query("select 1 from executions where id = $1 and status = 'processing' and node_id = 'node-a'", [slow])).rowCount === 1 || undefined, "the slow execution runs on node A");
    } finally {
      stack.signal("gateway", "SIGCONT");
    }
    await waitFor(async () => (await runsOnNodeA()).includes(slow) || undefined, "the slow execution reached the function on node A");
    // Queued before the kill: either node may take them.
    const queued = [await runAsync(nodeB()), await runAsync(nodeB()), await runAsync(nodeA())];
    // Synchronous calls to node B throughout the kill.
    let calling = true;
    const syncCalls: Promise<{ version: string; id: string } | undefined>[] = [];
    const caller = (async () => {
      while (calling || syncCalls.length < 5) {
        const answer = call(nodeB());
        syncCalls.push(answer);
        await answer;
      }
    })();
    // The machine of node A dies: its engine (daemon, containerd, every container) and its processes.
    await Promise.all([engine.kill(), stack.kill("gateway-2", "SIGKILL"), stack.kill("worker-2", "SIGKILL")]);
    queued.push(await runAsync(nodeB()), await runAsync(nodeB()));
    calling = false;
    await caller;

    const answers = await Promise.all(syncCalls);
    assert.ok(answers.every((a) => a?.version === "v4"), `every synchronous call to node B was answered by v4: ${JSON.stringify(answers)}`);
    const syncIds = answers.map((a) => a!.id);

    const all = [slow, ...queued, ...syncIds];
    const rows = await ended(all, 90_000);
    const onB = await runsOnNodeB();
    const onA = await runsOnNodeA();
    const runs = (id: string) => onA.filter((line) => line === id).length + onB.filter((line) => line === id).length;

    const slowRow = rows.get(slow)!;
    assert.equal(slowRow.status, "failed", JSON.stringify(slowRow));
    assert.match(slowRow.errors ?? "", /the gateway node node-a running this execution stopped before it finished; it may have run, so it was not run again/);
    assert.equal(runs(slow), 1, "the slow execution reached the function once, on node A, and was not run again");
    for (const id of [...queued, ...syncIds]) {
      const row = rows.get(id)!;
      if (row.status === "completed") assert.equal(runs(id), 1, `completed ${id} ran once: ${JSON.stringify(row)}`);
      else {
        // Only one node A had when it died may end so, and never run again elsewhere.
        assert.equal(row.status, "failed", JSON.stringify(row));
        assert.equal(row.node_id, "node-a", JSON.stringify(row));
        assert.match(row.errors ?? "", /the gateway node node-a running this execution stopped/);
        assert.ok(runs(id) <= 1, `${id} ran at most once`);
        assert.equal(onB.filter((line) => line === id).length, 0, `${id} was not run again on node B`);
      }
    }
    for (const id of syncIds) assert.equal(rows.get(id)!.status, "completed", "a synchronous call to node B completed");
    assert.ok(queued.slice(-2).every((id) => rows.get(id)!.status === "completed"), "executions queued after the kill completed on node B");
    // Node B serves on, from its own engine.
    assert.equal(await versionAt(nodeB()), "v4");
    assert.equal((await runtimesOn(main, versions.v4!)).length, 1);
  });
});
