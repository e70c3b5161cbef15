// bench/push-to-live: webhook to the first 200 from the new version of a hello-world Node
// function, broken into Slipway's steps, beside the same steps done by hand with the bare
// `git` and `docker` CLIs in the same run. Prints, per step, the median and the spread
// (min–max) of BENCH_ITERATIONS pushes (default 5, at least 3: the machine is shared and
// noisy), the ratio Slipway / bare with its spread over the pushes, the build's phases
// (where the remaining milliseconds go), and whether each build skipped its npm install.
// Target (issue 19): ≤ 0.80×. Before issue 19 this bench measured 1.21× (1,437 / 1,184 ms).
// The build's phases: waiting for its container (made ahead after the previous build, or
// while the source is fetched), copying the source in, starting the exec, the commands
// (build.sh: npm install or its restored copy, packaging), the final disk check.
//
//   BENCH_ITERATIONS=5 node --import tsx bench/push-to-live/run.ts
//   SLIPWAY_BUILD_AHEAD_SECONDS=0 BENCH_ITERATIONS=5 node --import tsx bench/push-to-live/run.ts
//   SLIPWAY_RUNTIME_POOL_SIZE=0 …   (the runtime pool off; production's default is 1 per runtime)
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import { createInstallationClients } from "../../src/github/create-installation-client.js";
import { deliverWebhook, pushPayload } from "../../test/emulator/webhooks.js";
import { startSlipwayStack } from "../../test/support/start-slipway-stack.js";

const run = promisify(execFile);
const iterations = Math.max(3, Number(process.env.BENCH_ITERATIONS ?? 5));
const image = "slipway/runtime-node-20:local";
const owner = "bench";
const repoName = "hello";
const slug = `hello~${repoName}~${owner}`;
const yml = "functions:\n  - id: hello\n    runtime: node-20\n    root: fn\n    commands: npm install\n    execute: any\n";
const handler = (n: number) => `module.exports = async (context) => context.res.text("hello ${n}");\n`;
const packageJson = '{ "name": "hello", "version": "1.0.0", "private": true }\n';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const ms = (value: number) => `${value.toFixed(0).padStart(6)} ms`;
/** "median (min–max)" of a list of milliseconds. */
const spread = (values: number[]) =>
  values.length === 0 ? "—" : `${ms(median(values))} (${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)})`;
const topSteps = ["queue wait", "fetch", "build", "artifact", "activate"];
const phaseOrder = ["waited for its container", "container start", "copy source in", "exec start", "commands", "disk check"];
const webhookStep = "webhook → deployment recorded";
const otherStep = "other (reporting, routes, polling)";

async function until(probe: () => Promise<boolean>, timeoutMs: number, intervalMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error("timed out");
}

async function servedText(url: string): Promise<string | null> {
  const response = await fetch(url);
  return response.status === 200 ? response.text() : null;
}

async function main() {
  // Production's default for containers made ahead (the test stack's is shorter);
  // SLIPWAY_BUILD_AHEAD_SECONDS=0 measures pushes that come too late to find one.
  const stack = await startSlipwayStack({ env: { SLIPWAY_ACTIVATION_GRACE_SECONDS: "2", SLIPWAY_BUILD_AHEAD_SECONDS: process.env.SLIPWAY_BUILD_AHEAD_SECONDS ?? "600", SLIPWAY_RUNTIME_POOL_SIZE: process.env.SLIPWAY_RUNTIME_POOL_SIZE ?? "1" } });
  const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 777 });
  const github = createInstallationClients({
    APP_ID: Number(stack.env.APP_ID),
    PRIVATE_KEY: stack.env.PRIVATE_KEY as string,
    WEBHOOK_SECRET: stack.webhookSecret,
    GITHUB_API_URL: stack.emulator.apiUrl,
  }, { log: pino({ level: "silent" }), writeIntervalMs: 0 });
  const slipway: Record<string, number>[] = [];
  let skipped = 0;
  const bare: Record<string, number>[] = [];

  try {
    for (let i = 0; i <= iterations; i++) {
      const files: Record<string, string> = { "fn/index.js": handler(i), "fn/package.json": packageJson };
      if (i === 0) files["slipway.yml"] = yml;
      const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: `hello ${i}` });

      // Slipway: signed webhook in, poll the function's URL until the new version answers.
      const started = performance.now();
      const startedWall = Date.now();
      await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: `hello ${i}` }), secret: stack.webhookSecret });
      await until(async () => (await servedText(`${stack.gatewayUrl}/fn/${slug}/`)) === `hello ${i}`, 180_000);
      const total = performance.now() - started;
      // The worker records the activation's time once the gateway has answered it (settled).
      type Row = { timings: Record<string, number>; log_tail: string; created_at: Date };
      let row: Row | undefined;
      await until(async () => {
        row = (await stack.db.query<Row>("select timings, log_tail, created_at from deployments where commit_sha = $1 and settled_at is not null", [commit.sha])).rows[0];
        return row !== undefined;
      }, 60_000);
      const steps = row!.timings;
      // "build › …" are the build's phases, already inside "build".
      const webhook = Math.max(0, row!.created_at.getTime() - startedWall);
      const accounted = webhook + topSteps.reduce((sum, name) => sum + (steps[name] ?? 0), 0);
      if (/npm install skipped/.test(row!.log_tail)) skipped++;
      if (i > 0) slipway.push({ ...steps, [webhookStep]: webhook, [otherStep]: total - accounted, total });

      // Bare CLI: the same work with git and docker commands, no queue, no reporting.
      const dir = await mkdtemp(join(tmpdir(), "bench-bare-"));
      const times: Record<string, number> = {};
      const step = async (name: string, work: () => Promise<unknown>) => {
        const t = performance.now();
        await work();
        times[name] = performance.now() - t;
      };
      const token = await github.installationToken(777);
      const header = `Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`;
      const name = `bench-bare-${randomBytes(4).toString("hex")}`;
      const bareStarted = performance.now();
      await step("fetch", async () => {
        await run("git", ["init", "-q", dir]);
        await run("git", ["-C", dir, "-c", `http.extraHeader=${header}`, "fetch", "-q", "--depth", "1", repo.clone_url, commit.sha]);
        await run("git", ["-C", dir, "checkout", "-q", "FETCH_HEAD"]);
      });
      await step("build", async () => {
        await run("docker", ["create", "--name", `${name}-build`, "-w", "/usr/local/server", "-e", "OPEN_RUNTIMES_ENTRYPOINT=index.js", image, "bash", "helpers/build.sh", "npm install"]);
        await run("docker", ["cp", `${dir}/fn/.`, `${name}-build:/mnt/code`]);
        await run("docker", ["start", "-a", `${name}-build`]);
      });
      await step("artifact", async () => {
        await run("docker", ["cp", `${name}-build:/mnt/code/code.tar.gz`, `${dir}/code.tar.gz`]);
        await run("sha256sum", [`${dir}/code.tar.gz`]);
      });
      await step("activate", async () => {
        await run("docker", ["create", "--name", `${name}-run`, "-p", "127.0.0.1::3000", "-w", "/usr/local/server", "-e", "OPEN_RUNTIMES_SECRET=", "-e", "OPEN_RUNTIMES_ENTRYPOINT=index.js", image, "bash", "helpers/start.sh", "bash helpers/server.sh"]);
        await run("docker", ["cp", `${dir}/code.tar.gz`, `${name}-run:/mnt/code/code.tar.gz`]);
        await run("docker", ["start", `${name}-run`]);
        const port = (await run("docker", ["port", `${name}-run`, "3000/tcp"])).stdout.trim().split(":").pop();
        await until(async () => (await servedText(`http://127.0.0.1:${port}/`)) === `hello ${i}`, 60_000);
      });
      const bareTotal = performance.now() - bareStarted;
      await run("docker", ["rm", "-f", `${name}-build`, `${name}-run`]).catch(() => {});
      await rm(dir, { recursive: true, force: true });
      if (i > 0) bare.push({ ...times, total: bareTotal });
      process.stderr.write(`iteration ${i}: slipway ${total.toFixed(0)} ms, bare ${bareTotal.toFixed(0)} ms${i === 0 ? " (warm-up, not counted)" : ""}\n`);
    }
  } finally {
    await stack.stop();
  }

  const phaseNames = phaseOrder.map((name) => `build › ${name}`).filter((name) => slipway.some((r) => name in r));
  const stepNames = [webhookStep, "queue wait", "fetch", "build", ...phaseNames, "artifact", "activate", otherStep, "total"];
  console.log(`\nbench/push-to-live: webhook → first 200 from the new version, ${iterations} pushes: median (min–max)\n`);
  console.log(`${"step".padEnd(38)} ${"slipway".padStart(22)} ${"by hand (bare CLI)".padStart(22)}`);
  for (const stepName of stepNames) {
    const s = spread(slipway.map((r) => r[stepName] ?? 0));
    const b = bare.some((r) => stepName in r) ? spread(bare.map((r) => r[stepName] ?? 0)) : "—";
    const label = stepName.startsWith("build › ") ? `  ${stepName.slice("build › ".length)}` : stepName;
    console.log(`${label.padEnd(38)} ${s.padStart(22)} ${b.padStart(22)}`);
  }
  const ratios = slipway.map((r, n) => r.total! / bare[n]!.total!);
  const ratio = median(slipway.map((r) => r.total!)) / median(bare.map((r) => r.total!));
  console.log(`\nnpm install skipped (dependencies unchanged) in ${skipped} of ${iterations + 1} builds (the first one installs)`);
  console.log(`ratio slipway / by hand = ${ratio.toFixed(2)}× of the medians; per push ${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`);
  console.log(`target ≤ 0.80× (issue 19); before issue 19: 1.21× (1,437 ms / 1,184 ms)`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
