// bench/cold-start: for each runtime, the time from "a deployment needs a container" to the
// first response of a hello-world function, three ways in the same run, interleaved:
//
//   pooled   Slipway's gateway path with the runtime pool (src/gateway/runtime-pool.ts): an
//            idle member takes the artifact and environment, is renamed, health wait
//   created  Slipway's gateway path without it: create, putArchive, start, health wait
//   bare     a bare `docker run` of the same image with the artifact bind-mounted
//
// Both Slipway paths run locked down as the gateway runs them (uid 10001, read-only root,
// tmpfs, no capabilities, the slipway-runtime sandbox network, the same limits); the bare
// run has none of that. The pool is refilled, and left to settle, before every measurement,
// so a refill never runs during one. Each path's steps are printed (median), so the
// remaining milliseconds can be seen. Target: pooled ≤ 0.8× bare for node-20 and python-3.13.
//
//   BENCH_ITERATIONS=5 BENCH_RUNTIME_TAG=local node --import tsx bench/cold-start/run.ts [node-20 python-3.13 rust-1.85]
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import Docker from "dockerode";
import pino from "pino";
import { request } from "undici";
import { startRuntime, stopRuntime, waitForHealth } from "../../src/gateway/runtime-containers.js";
import { imageSupportsPool, startRuntimePool, type RuntimePool } from "../../src/gateway/runtime-pool.js";
import { runtimeNetworkOf } from "../../src/sandbox/sandbox-networks.js";
import { buildFunction } from "../../test/support/runtime-harness.js";
const runtimeNetwork = runtimeNetworkOf({ SLIPWAY_RUNTIME_BRIDGE: process.env.SLIPWAY_RUNTIME_BRIDGE ?? "slipway-runtime" });

const run = promisify(execFile);
const docker = new Docker();
const iterations = Math.max(3, Number(process.env.BENCH_ITERATIONS ?? 5));
const tag = process.env.BENCH_RUNTIME_TAG ?? "local";
const caBundle = "/etc/ssl/certs/ca-certificates.crt";
const gatewaySecret = "bench-gateway-secret-0123456789";
const limits = { memoryMb: 512, cpus: 1 };
const sandbox = { user: "10001:10001", readOnlyRootfs: true };
const host = "127.0.0.1";

const functions = [
  { runtime: "node-20", entrypoint: "index.js", files: { "index.js": 'module.exports = async (c) => c.res.text("hi");\n' } },
  { runtime: "python-3.13", entrypoint: "main.py", files: { "main.py": 'def main(context):\n    return context.res.text("hi")\n' } },
  {
    runtime: "rust-1.85",
    entrypoint: "src/lib.rs",
    files: {
      "Cargo.toml": '[package]\nname = "hi"\nversion = "0.1.0"\nedition = "2021"\n\n[lib]\nname = "handler"\npath = "src/lib.rs"\n\n[dependencies]\nopenruntimes = { package = "openruntimes-types-for-rust", version = "1" }\n',
      "src/lib.rs": 'use openruntimes::{Context, Response};\npub fn main(context: Context) -> Response { context.res.text("hi", None, None) }\n',
    },
  },
];

type Steps = Record<string, number>;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const spread = (values: number[], digits = 0) => `${Math.min(...values).toFixed(digits)} / ${median(values).toFixed(digits)} / ${Math.max(...values).toFixed(digits)}`;

async function firstResponse(url: string, secret: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      const response = await request(url, { headers: { "x-open-runtimes-secret": secret } });
      const text = await response.body.text();
      if (response.statusCode === 200 && text === "hi") return;
    } catch {}
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no response from ${url}`);
}

/** helpers/start.sh's own record: unpacking the artifact, and the server's start to listening. */
async function serverTimings(baseUrl: string): Promise<Steps> {
  const response = await request(`${baseUrl}/__opr/timings`);
  const text = await response.body.text();
  const value = (name: string) => Number(/^(\w+)=([\d.]+)$/m.exec(text.split("\n").find((l) => l.startsWith(`${name}=`)) ?? "")?.[2] ?? NaN) * 1000;
  return { extract: value("extract"), startup: value("startup") };
}

/** Slipway's path, with or without the pool; the steps as the gateway sees them. */
async function slipwayStart(image: string, entrypoint: string, artifact: Buffer, pool: RuntimePool | null): Promise<Steps> {
  const deploymentId = `bench-${randomBytes(6).toString("hex")}`;
  const t0 = performance.now();
  const runtime = await startRuntime(docker, {
    deploymentId,
    image,
    entrypoint,
    artifact: () => Readable.from([artifact]),
    gatewaySecret,
    host,
    ports: null,
    limits,
    sandbox,
    network: runtimeNetwork.name,
    labels: { "slipway.bench": "cold-start" },
    env: ["GREETING=hello"],
    pool,
  });
  const t1 = performance.now();
  await waitForHealth(docker, runtime, 60_000);
  const t2 = performance.now();
  await firstResponse(`${runtime.baseUrl}/`, runtime.secret);
  const t3 = performance.now();
  const inside = await serverTimings(runtime.baseUrl);
  await stopRuntime(docker, deploymentId);
  if (pool && runtime.startedAs !== "pooled") throw new Error(`expected a pooled start, got ${runtime.startedAs}`);
  const healthy = t2 - t1;
  return {
    [pool ? "take member, rename, send code + env" : "create, put artifact, start"]: t1 - t0,
    "  unpack artifact (start.sh)": inside.extract!,
    "  server process → listening": inside.startup!,
    "  rest of health wait (exec, polling)": healthy - inside.extract! - inside.startup!,
    "health wait": healthy,
    "first response": t3 - t2,
    total: t3 - t0,
  };
}

async function bareRun(image: string, entrypoint: string, mount: string): Promise<Steps> {
  const name = `bench-bare-${randomBytes(4).toString("hex")}`;
  const t0 = performance.now();
  await run("docker", ["run", "-d", "--name", name, "-p", "127.0.0.1::3000", "-v", `${mount}:/mnt/code:ro`, "-w", "/usr/local/server",
    "-e", "OPEN_RUNTIMES_SECRET=s", "-e", `OPEN_RUNTIMES_ENTRYPOINT=${entrypoint}`, image, "bash", "helpers/start.sh", "bash helpers/server.sh"]);
  const t1 = performance.now();
  const port = (await run("docker", ["port", name, "3000/tcp"])).stdout.trim().split("\n")[0]!.split(":").pop();
  const t2 = performance.now();
  await firstResponse(`http://127.0.0.1:${port}/`, "s");
  const t3 = performance.now();
  await run("docker", ["rm", "-f", name]);
  return { "docker run -d (create + start)": t1 - t0, "docker port": t2 - t1, "until first response": t3 - t2, total: t3 - t0 };
}

function printSteps(title: string, rows: Steps[]): void {
  console.log(`  ${title}`);
  for (const step of Object.keys(rows[0]!)) {
    const values = rows.map((row) => row[step]!).filter(Number.isFinite);
    if (values.length) console.log(`    ${step.padEnd(40)} ${median(values).toFixed(0).padStart(6)} ms`);
  }
}

async function main() {
  const only = process.argv.slice(2);
  const log = pino({ level: "warn" });
  const summary: string[] = [];
  for (const fn of functions.filter((f) => (only.length ? only.includes(f.runtime) : f.runtime !== "rust-1.85"))) {
    const image = `slipway/runtime-${fn.runtime}:${tag}`;
    const source = await mkdtemp(join(tmpdir(), "cold-start-src-"));
    for (const [name, content] of Object.entries(fn.files)) {
      await mkdir(join(source, name, ".."), { recursive: true });
      await writeFile(join(source, name), content);
    }
    const built = await buildFunction(image, source, { entrypoint: fn.entrypoint, commands: "", caBundlePath: caBundle, env: [`CARGO_HTTP_CAINFO=/usr/local/share/slipway/extra-ca.crt`], timeoutMs: 20 * 60_000 });
    if (built.exitCode !== 0) throw new Error(`${fn.runtime} build failed:\n${built.logs.slice(-2000)}`);
    const mount = await mkdtemp(join(tmpdir(), "cold-start-art-"));
    await writeFile(join(mount, "code.tar.gz"), built.artifact);

    const pool = (await imageSupportsPool(docker, image))
      ? await startRuntimePool({ docker, log, gatewaySecret, host, ports: null, limits, network: runtimeNetwork.name, runtimes: [{ name: fn.runtime, image, sandbox }], sizes: () => 1, memoryBudgetMb: limits.memoryMb, idleSeconds: 600 })
      : null;
    if (!pool) console.log(`${image} has no pool loader: pooled starts are not measured (rebuild it from runtimes/${fn.runtime})`);
    const pooled: Steps[] = [];
    const created: Steps[] = [];
    const bare: Steps[] = [];
    try {
      // The first round warms caches (image layers, page cache) and is not counted.
      for (let i = 0; i <= iterations; i++) {
        let p: Steps | null = null;
        if (pool) {
          await pool.filled();
          await new Promise((r) => setTimeout(r, 300));
          p = await slipwayStart(image, fn.entrypoint, built.artifact, pool);
          await pool.filled();
          await new Promise((r) => setTimeout(r, 300));
        }
        const c = await slipwayStart(image, fn.entrypoint, built.artifact, null);
        const b = await bareRun(image, fn.entrypoint, mount);
        if (i === 0) continue;
        if (p) pooled.push(p);
        created.push(c);
        bare.push(b);
      }
    } finally {
      await pool?.close();
      await rm(source, { recursive: true, force: true });
      await rm(mount, { recursive: true, force: true });
    }

    const totals = (rows: Steps[]) => rows.map((r) => r.total!);
    const ratios = (rows: Steps[]) => rows.map((r, i) => r.total! / bare[i]!.total!);
    console.log(`\n${fn.runtime} (${image}), ${iterations} runs, min / median / max:`);
    if (pooled.length) console.log(`  pooled   ${spread(totals(pooled)).padStart(20)} ms   ratio to bare ${spread(ratios(pooled), 2)}×`);
    console.log(`  created  ${spread(totals(created)).padStart(20)} ms   ratio to bare ${spread(ratios(created), 2)}×`);
    console.log(`  bare     ${spread(totals(bare)).padStart(20)} ms`);
    console.log(`\n  where the milliseconds go (median of each step):`);
    if (pooled.length) printSteps("pooled", pooled);
    printSteps("created", created);
    printSteps("bare docker run", bare);
    summary.push(
      `${fn.runtime.padEnd(12)} ${(pooled.length ? median(totals(pooled)).toFixed(0) : "—").padStart(7)} ms ${median(totals(created)).toFixed(0).padStart(7)} ms ${median(totals(bare)).toFixed(0).padStart(7)} ms ${(pooled.length ? spread(ratios(pooled), 2) : "—").padStart(18)}× ${spread(ratios(created), 2).padStart(18)}×`,
    );
  }
  console.log(`\nbench/cold-start: first response of a new container (median of ${iterations} runs; ratios min / median / max)\n`);
  console.log(`${"runtime".padEnd(12)} ${"pooled".padStart(10)} ${"created".padStart(10)} ${"docker run".padStart(10)} ${"pooled ÷ bare".padStart(19)} ${"created ÷ bare".padStart(19)}`);
  for (const line of summary) console.log(line);
  console.log("\ntarget: pooled ≤ 0.80× a bare docker run (node-20, python-3.13)");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
