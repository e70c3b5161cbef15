// bench/multi-node: push-to-live and rollback with two gateway nodes against one, in one
// run. Two real stacks run side by side on the same S3-compatible artifact store (one
// versitygw, a prefix each): one node (a gateway and a worker) and two nodes (two gateways
// and two workers, each process with an artifact cache of its own, so the second node reads
// from the bucket). The two-node stack's second node (its extra gateway and worker) runs on a
// second Docker engine of its own (test/support/start-docker-engine.ts, as in
// test/e2e/two-engines.test.ts: its own sandbox bridges, runtime ports and node id), so the
// builds its worker takes run there, and its gateway starts and health-checks runtime
// containers of its own there, as a node on a machine of its own would; the one-node stack
// and the two-node stack's first node run on this machine's engine. Their measurements are
// interleaved, in alternating order, so both see the same machine load. Measured:
//   1. push → the first 200 from the new version on EVERY node;
//   2. `/slipway rollback vN` comment → every node serves the old version (its container
//      retired and parked first on every engine, as it is some seconds after a switch).
// Prints min/median/max of BENCH_ITERATIONS (default 5, at least 3) per case, the ratio two
// nodes / one node, and a step table of where the time goes, from Postgres (when the switch
// was written, when each node reported serving its revision) and from polling each node.
// Both engines share this machine (its cores, disk and loopback), so the two nodes' container
// starts compete for the same CPUs, which two machines would not; the second engine runs
// with --iptables=false, so its containers reach no network beyond their published ports,
// which a function without dependencies (commands: "") does not need.
// "switch → reported done" on two nodes includes the activating gateway's wait for the other
// node's report, which it polls in gateway_nodes every 200 ms (src/gateway/route-sync.ts).
//
//   BENCH_ITERATIONS=5 node --import tsx bench/multi-node/run.ts
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { deliverWebhook, issueCommentPayload, pushPayload } from "../../test/emulator/webhooks.js";
import { startDockerEngine, type DockerEngine } from "../../test/support/start-docker-engine.js";
import { startS3Server } from "../../test/support/start-s3-server.js";
import { startSlipwayStack, type SlipwayStack } from "../../test/support/start-slipway-stack.js";

const iterations = Math.max(3, Number(process.env.BENCH_ITERATIONS ?? 5));
const graceSeconds = 2;
const owner = "bench";
const repoName = "multi";
const slug = `hello~${repoName}~${owner}`;
const yml = 'functions:\n  - id: hello\n    runtime: node-20\n    root: fn\n    commands: ""\n    execute: any\n';
const handler = (v: string) => `module.exports = async (c) => c.res.text(${JSON.stringify(v)});\n`;
const docker = new Docker();
const runtimeImage = `slipway/runtime-node-20:${process.env.SLIPWAY_TEST_RUNTIME_TAG ?? "local"}`;
// The second engine's names, per run: interface names are global to the host.
const runId = randomBytes(2).toString("hex");

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
/** "median (min–max)" of a list of milliseconds. */
const spread = (values: number[]) =>
  values.length === 0 ? "—" : `${median(values).toFixed(0).padStart(5)} ms (${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)})`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(probe: () => Promise<T | null | undefined | false>, timeoutMs: number, what: string, intervalMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => null);
    if (value) return value;
    await sleep(intervalMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}

type Side = {
  label: string;
  stack: SlipwayStack;
  repo: Awaited<ReturnType<SlipwayStack["emulator"]["createRepo"]>>;
  /** The Docker engines of its nodes (the one-node stack: this machine's). */
  engines: Docker[];
  prNumber?: number;
};

const servedBy = async (gatewayUrl: string) => {
  const response = await fetch(`${gatewayUrl}/fn/${slug}/`);
  return response.status === 200 ? response.text() : null;
};

const switchStep = "→ switch written";
const firstStep = "switch → first node serves";
const slowestStep = "first → every node serves (slowest node)";
const reportedNodeStep = "switch → slowest node reports the revision";
const convergedStep = "switch → every node serves";
const reportedStep = "every node serves → reported done (<0: before the bench's poll saw it)";
const switchReportedStep = "switch → reported done (what read-your-writes costs)";
const totalStep = "total: → every node serves";

/**
 * Runs `trigger` and follows the switch it makes through every node: when Postgres records it,
 * when each node reports serving its revision, when each node answers with `expected`.
 */
async function follow(side: Side, trigger: () => Promise<void>, expected: string) {
  const { stack } = side;
  const nodes = stack.gatewayUrls.length;
  const before = Number((await stack.db.query<{ revision: string }>("select revision from route_revision")).rows[0]!.revision);
  const t0 = Date.now();
  await trigger();
  const deadline = t0 + 180_000;
  const servedAt: number[] = [];
  const reportedAt = new Map<string, number>();
  let switchAt = 0;
  await Promise.all([
    ...stack.gatewayUrls.map(async (url, n) => {
      while (!servedAt[n]) {
        if (Date.now() > deadline) throw new Error(`${side.label}: ${url} did not serve ${expected}\n${stack.logs().slice(-3000)}`);
        if ((await servedBy(url).catch(() => null)) === expected) servedAt[n] = Date.now();
        else await sleep(10);
      }
    }),
    (async () => {
      let revision = 0;
      while (reportedAt.size < nodes) {
        if (Date.now() > deadline) throw new Error(`${side.label}: not every node reported the switch`);
        if (!revision) {
          const row = (await stack.db.query<{ revision: string; changed_at: Date }>("select revision, changed_at from route_revision")).rows[0]!;
          if (Number(row.revision) > before) [revision, switchAt] = [Number(row.revision), row.changed_at.getTime()];
        }
        if (revision) {
          const rows = (await stack.db.query<{ id: string; served_revision: string }>("select id, served_revision from gateway_nodes")).rows;
          for (const row of rows) if (Number(row.served_revision) >= revision && !reportedAt.has(row.id)) reportedAt.set(row.id, Date.now());
        }
        await sleep(15);
      }
    })(),
  ]);
  const first = Math.min(...servedAt);
  const every = Math.max(...servedAt);
  return {
    t0,
    switchAt,
    every,
    steps: {
      [firstStep]: first - switchAt,
      [slowestStep]: every - first,
      [reportedNodeStep]: Math.max(...reportedAt.values()) - switchAt,
      [convergedStep]: every - switchAt,
    } as Record<string, number>,
    total: every - t0,
  };
}

async function push(side: Side, version: string, files: Record<string, string>) {
  const { stack, repo } = side;
  const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: version });
  const followed = await follow(
    side,
    async () => {
      const sent = await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: version }), secret: stack.webhookSecret });
      if (sent.status !== 202) throw new Error(`push webhook answered ${sent.status}`);
    },
    version,
  );
  // The worker records the deployment settled once the gateway has answered the activation,
  // which it does once every live node serves the switch.
  type Row = { timings: Record<string, number>; created_at: Date; settled_at: Date };
  const row = await until(
    async () => (await stack.db.query<Row>("select timings, created_at, settled_at from deployments where commit_sha = $1 and settled_at is not null", [commit.sha])).rows[0],
    60_000,
    "the deployment to settle",
  );
  const t = row.timings;
  const buildDone = row.created_at.getTime() + ["queue wait", "fetch", "build", "artifact"].reduce((sum, name) => sum + (t[name] ?? 0), 0);
  return {
    "webhook → build done (queue, fetch, build, artifact)": buildDone - followed.t0,
    [`activation ${switchStep} (container start, health check)`]: followed.switchAt - buildDone,
    ...followed.steps,
    [reportedStep]: row.settled_at.getTime() - followed.every,
    [switchReportedStep]: row.settled_at.getTime() - followed.switchAt,
    [totalStep]: followed.total,
  };
}

async function rollback(side: Side, version: number, expected: string) {
  const { stack, repo } = side;
  // Cold, as a rollback usually is: the old version's container retired (stopped, parked).
  const id = (await stack.db.query<{ id: string }>("select id from deployments where version = $1", [version])).rows[0]!.id;
  const running = (engine: Docker) => engine.getContainer(`slipway-runtime-${id}`).inspect().then((i) => i.State.Running, () => false);
  await until(async () => !(await Promise.all(side.engines.map(running))).some(Boolean), 60_000, `v${version}'s container to be retired on every engine`, 200);
  const comments = () => stack.emulator.comments(owner, repoName, side.prNumber!);
  let count = 0;
  const followed = await follow(
    side,
    async () => {
      const posted = stack.emulator.createIssueComment({ owner, repo: repoName, issueNumber: side.prNumber!, body: `/slipway rollback v${version}` });
      count = comments().length;
      // Not awaited: the clock runs while Slipway still answers, what counts is when users get the old version.
      void deliverWebhook({ url: stack.webhookUrl, event: "issue_comment", payload: issueCommentPayload({ repo, issueNumber: side.prNumber!, comment: posted }), secret: stack.webhookSecret });
    },
    expected,
  );
  // Reported: Slipway's reply on the pull request, posted once every live node serves it.
  const repliedAt = await until(async () => comments().length > count && Date.now(), 60_000, "the rollback's reply");
  return {
    [`comment ${switchStep} (container start, health check)`]: followed.switchAt - followed.t0,
    ...followed.steps,
    [reportedStep]: repliedAt - followed.every,
    [switchReportedStep]: repliedAt - followed.switchAt,
    [totalStep]: followed.total,
  };
}

function table(title: string, one: Record<string, number>[], two: Record<string, number>[]) {
  console.log(`\n${title}, ${iterations} iterations each: median (min–max)`);
  console.log(`\n${"step".padEnd(70)} ${"one node".padStart(22)} ${"two nodes".padStart(22)}`);
  for (const step of Object.keys(one[0]!)) {
    console.log(`${step.padEnd(70)} ${spread(one.map((r) => r[step]!)).padStart(22)} ${spread(two.map((r) => r[step]!)).padStart(22)}`);
  }
  for (const step of [totalStep, convergedStep, switchReportedStep]) {
    const of = (rows: Record<string, number>[]) => rows.map((r) => r[step]!);
    const ratios = two.map((r, n) => r[step]! / Math.max(1, one[n]![step]!));
    console.log(`ratio two nodes / one node, ${step.replace("total: ", "").replace(/ \(.*\)$/, "")}: ${(median(of(two)) / median(of(one))).toFixed(2)}× of the medians; per iteration ${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`);
  }
}

async function main() {
  const s3 = await startS3Server();
  const caches = await mkdtemp(join(tmpdir(), "bench-multi-node-caches-"));
  const sides: Side[] = [];
  let engine: DockerEngine | undefined;
  try {
    // Production's default for build containers made ahead; a short grace so old versions retire.
    const env = (prefix: string) => ({ ...s3.env(prefix), SLIPWAY_ACTIVATION_GRACE_SECONDS: String(graceSeconds), SLIPWAY_BUILD_AHEAD_SECONDS: "600" });
    // Each process is a node's: an artifact cache of its own, nothing shared but the bucket.
    const ownCache = (side: string, name: string) => ({ SLIPWAY_ARTIFACT_CACHE_DIR: join(caches, side, name) });
    const cachesOf = (side: string, names: string[]) => Object.fromEntries(names.map((name) => [name, ownCache(side, name)]));
    const one = await startSlipwayStack({ env: env("one/"), processEnv: cachesOf("one", ["app", "worker", "gateway"]) });
    sides.push({ label: "one node", stack: one, repo: await one.emulator.createRepo({ owner, name: repoName, installationId: 4201 }), engines: [docker] });
    // The second node's engine, with sandbox bridges of its own (firewalled by scripts/sandbox-firewall.sh).
    const bridges = { SLIPWAY_BUILD_BRIDGE: `bw${runId}-build`, SLIPWAY_RUNTIME_BRIDGE: `bw${runId}-run` };
    engine = await startDockerEngine({ name: `bench-${runId}`, images: [runtimeImage], sandboxBridges: { build: bridges.SLIPWAY_BUILD_BRIDGE, runtime: bridges.SLIPWAY_RUNTIME_BRIDGE } });
    // Both engines publish on this host's loopback: the second node's runtimes on ports of
    // their own, clear of the default 29000-29999 and of two-engines.test.ts's 20000-27999.
    const portsFrom = 28_000 + (parseInt(runId, 16) % 10) * 100;
    const secondNode = { ...bridges, DOCKER_HOST: engine.host, SLIPWAY_RUNTIME_PORTS: `${portsFrom}-${portsFrom + 99}` };
    const caches2 = cachesOf("two", ["app", "worker", "worker-2", "gateway", "gateway-2"]);
    const two = await startSlipwayStack({
      env: env("two/"),
      extraGateways: 1,
      extraWorkers: 1,
      processEnv: {
        ...caches2,
        gateway: { ...caches2.gateway, SLIPWAY_GATEWAY_NODE_ID: "bench-node-1" },
        "gateway-2": { ...caches2["gateway-2"], ...secondNode, SLIPWAY_GATEWAY_NODE_ID: "bench-node-2" },
        "worker-2": { ...caches2["worker-2"], ...secondNode },
      },
    });
    sides.push({ label: "two nodes", stack: two, repo: await two.emulator.createRepo({ owner, name: repoName, installationId: 4202 }), engines: [docker, engine.docker] });
    process.stderr.write(`stacks up: one node ${one.gatewayUrls.join(" ")}; two nodes ${two.gatewayUrls.join(" ")}\n`);

    // Warm-up, not counted: the first deployment (npm, caches, first container of the image).
    for (const side of sides) await push(side, "v0", { "slipway.yml": yml, "fn/index.js": handler("v0") });
    // The second node serves from a container on its own engine, not by forwarding to the first.
    const onSecond = await engine.docker.listContainers({ filters: { label: ["slipway.role=runtime"] } });
    if (onSecond.length === 0) throw new Error(`the second node runs no runtime container on its own engine after the warm-up\n${two.logs().slice(-3000)}`);

    const pushes: Record<string, Record<string, number>[]> = { "one node": [], "two nodes": [] };
    for (let i = 1; i <= iterations; i++) {
      const order = i % 2 ? sides : [...sides].reverse();
      for (const side of order) pushes[side.label]!.push(await push(side, `v${i}`, { "fn/index.js": handler(`v${i}`), "fn/n.txt": randomBytes(4).toString("hex") }));
      process.stderr.write(`push ${i}: one node ${pushes["one node"]!.at(-1)![totalStep]!.toFixed(0)} ms, two nodes ${pushes["two nodes"]!.at(-1)![totalStep]!.toFixed(0)} ms\n`);
    }

    // Rollbacks from a pull request's comments, alternating between the last two versions
    // (deployment versions count from 1: v0's code is version 1, so v<i> is version i + 1).
    for (const side of sides) {
      await side.stack.emulator.commit({ owner, repo: repoName, branch: "ops", files: { "ops.md": "x" }, message: "ops" });
      side.prNumber = (await side.stack.emulator.createPullRequest({ owner, repo: repoName, head: "ops" })).number;
    }
    const rollbacks: Record<string, Record<string, number>[]> = { "one node": [], "two nodes": [] };
    for (let i = 1; i <= iterations; i++) {
      const to = i % 2 ? iterations - 1 : iterations;
      const order = i % 2 ? sides : [...sides].reverse();
      for (const side of order) rollbacks[side.label]!.push(await rollback(side, to + 1, `v${to}`));
      process.stderr.write(`rollback ${i} (to v${to}): one node ${rollbacks["one node"]!.at(-1)![totalStep]!.toFixed(0)} ms, two nodes ${rollbacks["two nodes"]!.at(-1)![totalStep]!.toFixed(0)} ms\n`);
    }

    console.log(`\nbench/multi-node: two gateway nodes (and two workers) against one, on one S3 artifact store; the second node on a Docker engine of its own (one machine)`);
    table("push → first 200 from the new version on every node", pushes["one node"]!, pushes["two nodes"]!);
    table("`/slipway rollback` comment → every node serves the old version (retired, parked)", rollbacks["one node"]!, rollbacks["two nodes"]!);
    console.log(`\nthe second node starts its own containers on its own engine, but both engines share this machine's cores`);
  } finally {
    for (const side of sides) await side.stack.stop().catch((error: Error) => console.error(`stopping ${side.label}: ${error.message}`));
    if (engine) await engine.stop().catch((error: Error) => console.error(`stopping the second engine: ${error.message}`));
    await s3.stop();
    await rm(caches, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
