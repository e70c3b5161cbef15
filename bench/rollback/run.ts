// bench/rollback: from the `/slipway rollback` comment webhook to the first request served
// by the old version, with the old version still warm and with it cold: its container
// retired after the grace period (stopped and parked, as the gateway leaves it), and, as
// the worst case, with no container left at all (made again from the artifact). Beside
// them, in the same run: a bare `docker run` cold start of the same image and artifact, and
// deploying the same version anew by push.
// Targets: warm < 300 ms; cold ≤ 1.2× a container cold start.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";
import { deliverWebhook, issueCommentPayload, pushPayload } from "../../test/emulator/webhooks.js";
import { startSlipwayStack } from "../../test/support/start-slipway-stack.js";

const run = promisify(execFile);
const docker = new Docker();
const iterations = Number(process.env.BENCH_ITERATIONS ?? 5);
const graceSeconds = 8;
const owner = "bench";
const repoName = "rollback";
const slug = `hello~${repoName}~${owner}`;
const yml = 'functions:\n  - id: hello\n    runtime: node-20\n    root: fn\n    commands: ""\n    execute: any\n';
const handler = (v: string) => `module.exports = async (c) => c.res.text(${JSON.stringify(v)});\n`;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function until(probe: () => Promise<boolean>, timeoutMs = 120_000, intervalMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error("timed out");
}

async function main() {
  const stack = await startSlipwayStack({ env: { SLIPWAY_ACTIVATION_GRACE_SECONDS: String(graceSeconds) } });
  const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 9090 });
  const served = async () => (await fetch(`${stack.gatewayUrl}/fn/${slug}/`)).text();
  const runtimeOf = async (version: number) => {
    const id = (await stack.db.query<{ id: string }>("select d.id from deployments d where d.version = $1", [version])).rows[0]!.id;
    return docker.getContainer(`slipway-runtime-${id}`);
  };
  const containerOf = async (version: number) => (await runtimeOf(version)).inspect().then((i) => i.State.Running, () => false);
  const removeContainerOf = async (version: number) => (await runtimeOf(version)).remove({ force: true }).catch(() => {});
  const push = async (files: Record<string, string>, message: string) => {
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message });
    const started = performance.now();
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message }), secret: stack.webhookSecret });
    return { sha: commit.sha, started };
  };
  const warm: number[] = [];
  const cold: number[] = [];
  const coldNoContainer: number[] = [];
  const bare: number[] = [];
  const anew: number[] = [];
  try {
    let first = await push({ "slipway.yml": yml, "fn/index.js": handler("one") }, "one");
    await until(async () => (await served()) === "one");
    first = await push({ "fn/index.js": handler("two") }, "two");
    await until(async () => (await served()) === "two");
    await stack.emulator.commit({ owner, repo: repoName, branch: "ops", files: { "ops.md": "x" }, message: "ops" });
    const pr = await stack.emulator.createPullRequest({ owner, repo: repoName, head: "ops" });
    // The clock starts as the webhook is sent, and the function is polled while Slipway
    // still posts its reply: what counts is when users get the old version back.
    const pending: Promise<unknown>[] = [];
    const comment = async (body: string) => {
      const posted = stack.emulator.createIssueComment({ owner, repo: repoName, issueNumber: pr.number, body });
      const started = performance.now();
      pending.push(deliverWebhook({ url: stack.webhookUrl, event: "issue_comment", payload: issueCommentPayload({ repo, issueNumber: pr.number, comment: posted }), secret: stack.webhookSecret }));
      return started;
    };

    // Baseline, interleaved with the rollbacks so both see the same machine load: a bare
    // `docker run` of the same image with v1's artifact bind-mounted.
    const digest = (await stack.db.query<{ artifact_digest: string }>("select artifact_digest from deployments where version = 1")).rows[0]!.artifact_digest;
    const mount = await mkdtemp(join(tmpdir(), "bench-rollback-"));
    const hex = digest.slice("sha256:".length);
    await copyFile(join(stack.env.SLIPWAY_ARTIFACT_DIR!, "sha256", hex.slice(0, 2), `${hex}.tar.gz`), join(mount, "code.tar.gz"));
    const bareColdStart = async () => {
      const name = `bench-rollback-${randomBytes(4).toString("hex")}`;
      const started = performance.now();
      await run("docker", ["run", "-d", "--name", name, "-p", "127.0.0.1::3000", "-v", `${mount}:/mnt/code:ro`, "-w", "/usr/local/server",
        "-e", "OPEN_RUNTIMES_SECRET=s", "slipway/runtime-node-20:local", "bash", "helpers/start.sh", "bash helpers/server.sh"]);
      const port = (await run("docker", ["port", name, "3000/tcp"])).stdout.trim().split("\n")[0]!.split(":").pop();
      await until(async () => (await (await fetch(`http://127.0.0.1:${port}/`, { headers: { "x-open-runtimes-secret": "s" } })).text()) === "one");
      bare.push(performance.now() - started);
      await run("docker", ["rm", "-f", name]);
    };

    for (let i = 0; i < iterations; i++) {
      await bareColdStart();
      // Cold: wait until v1's container has been retired, then roll back to it.
      await until(async () => !(await containerOf(1)), (graceSeconds + 30) * 1000, 200);
      let started = await comment("/slipway rollback v1");
      await until(async () => (await served()) === "one");
      cold.push(performance.now() - started);
      // Warm: v2 is still inside its grace period, so going back to it needs no start.
      started = await comment("/slipway rollback v2");
      await until(async () => (await served()) === "two").catch((error) => {
        console.error(stack.emulator.comments(owner, repoName, pr.number).at(-1)?.body);
        throw error;
      });
      warm.push(performance.now() - started);
      await Promise.all(pending.splice(0));
      // Worst case: v1 retired and its parked container gone too (pruned, or another engine).
      await until(async () => !(await containerOf(1)), (graceSeconds + 30) * 1000, 200);
      await removeContainerOf(1);
      started = await comment("/slipway rollback v1");
      await until(async () => (await served()) === "one");
      coldNoContainer.push(performance.now() - started);
      await comment("/slipway rollback v2");
      await until(async () => (await served()) === "two");
      await Promise.all(pending.splice(0));
      process.stderr.write(`iteration ${i + 1}: cold ${cold.at(-1)!.toFixed(0)} ms, cold without a container ${coldNoContainer.at(-1)!.toFixed(0)} ms, warm ${warm.at(-1)!.toFixed(0)} ms\n`);
    }


    await rm(mount, { recursive: true, force: true });

    // Deploying the same version anew: unpin, then push v1's code again and wait for it.
    await comment("/slipway unpin");
    await Promise.all(pending.splice(0));
    for (let i = 0; i < Math.min(iterations, 3); i++) {
      const content = i % 2 === 0 ? "one" : "two";
      const { started } = await push({ "fn/index.js": handler(content), "fn/build.txt": `${i}` }, `again ${i}`);
      await until(async () => (await served()) === content);
      anew.push(performance.now() - started);
    }
  } finally {
    await stack.stop();
  }

  const w = median(warm);
  const c = median(cold);
  const r = median(coldNoContainer);
  const b = median(bare);
  const n = median(anew);
  console.log(`\nbench/rollback: comment webhook → first request served by the old version (median of ${iterations})\n`);
  console.log(`warm rollback (old version still running)      ${w.toFixed(0).padStart(6)} ms   target < 300 ms`);
  console.log(`cold rollback (old version retired, parked)     ${c.toFixed(0).padStart(6)} ms`);
  console.log(`cold rollback (no container left at all)       ${r.toFixed(0).padStart(6)} ms`);
  console.log(`bare docker run cold start, same artifact      ${b.toFixed(0).padStart(6)} ms`);
  console.log(`deploying the same version anew by push        ${n.toFixed(0).padStart(6)} ms`);
  console.log(`\ncold rollback / container cold start = ${(c / b).toFixed(2)}×  (target ≤ 1.20×)`);
  console.log(`cold rollback without a container / container cold start = ${(r / b).toFixed(2)}×`);
  console.log(`warm rollback / deploying anew        = ${(w / n).toFixed(3)}×`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
