// bench/push-to-live: webhook to the first 200 from the new version of a hello-world Node
// function, broken into Slipway's steps, beside the same steps done by hand with the bare
// `git` and `docker` CLIs in the same run. Prints medians and the ratio Slipway / bare.
// Target: ≤ 1.5× now, 1.15× as the goal.
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
const iterations = Number(process.env.BENCH_ITERATIONS ?? 5);
const image = "slipway/runtime-node-20:local";
const owner = "bench";
const repoName = "hello";
const slug = `hello~${repoName}~${owner}`;
const yml = "functions:\n  - id: hello\n    runtime: node-20\n    root: fn\n    commands: npm install\n    execute: any\n";
const handler = (n: number) => `module.exports = async (context) => context.res.text("hello ${n}");\n`;
const packageJson = '{ "name": "hello", "version": "1.0.0", "private": true }\n';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const ms = (value: number) => `${value.toFixed(0).padStart(6)} ms`;

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
  const stack = await startSlipwayStack({ env: { SLIPWAY_ACTIVATION_GRACE_SECONDS: "2" } });
  const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 777 });
  const github = createInstallationClients({
    APP_ID: Number(stack.env.APP_ID),
    PRIVATE_KEY: stack.env.PRIVATE_KEY as string,
    WEBHOOK_SECRET: stack.webhookSecret,
    GITHUB_API_URL: stack.emulator.apiUrl,
  }, { log: pino({ level: "silent" }), writeIntervalMs: 0 });
  const slipway: Record<string, number>[] = [];
  const bare: Record<string, number>[] = [];

  try {
    for (let i = 0; i <= iterations; i++) {
      const files: Record<string, string> = { "fn/index.js": handler(i), "fn/package.json": packageJson };
      if (i === 0) files["slipway.yml"] = yml;
      const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: `hello ${i}` });

      // Slipway: signed webhook in, poll the function's URL until the new version answers.
      const started = performance.now();
      await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: `hello ${i}` }), secret: stack.webhookSecret });
      await until(async () => (await servedText(`${stack.gatewayUrl}/fn/${slug}/`)) === `hello ${i}`, 180_000);
      const total = performance.now() - started;
      const row = (await stack.db.query<{ timings: Record<string, number> }>("select timings from deployments where commit_sha = $1", [commit.sha])).rows[0]!;
      const steps = row.timings;
      const accounted = Object.values(steps).reduce((a, b) => a + b, 0);
      if (i > 0) slipway.push({ ...steps, "other (webhook, reporting, polling)": total - accounted, total });

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

  const stepNames = ["queue wait", "fetch", "build", "artifact", "activate", "other (webhook, reporting, polling)", "total"];
  console.log(`\nbench/push-to-live: webhook → first 200 from the new version (median of ${iterations})\n`);
  console.log(`${"step".padEnd(38)} ${"slipway".padStart(9)} ${"bare CLI".padStart(9)}`);
  for (const stepName of stepNames) {
    const s = median(slipway.map((r) => r[stepName] ?? 0));
    const b = bare.some((r) => stepName in r) ? ms(median(bare.map((r) => r[stepName] ?? 0))) : "       —";
    console.log(`${stepName.padEnd(38)} ${ms(s)} ${b.padStart(9)}`);
  }
  const ratio = median(slipway.map((r) => r.total!)) / median(bare.map((r) => r.total!));
  console.log(`\nratio slipway / bare = ${ratio.toFixed(2)}× (target ≤ 1.50×, goal 1.15×)`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
