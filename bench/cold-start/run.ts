// bench/cold-start: for each runtime, the time from container create to the first
// response of a hello-world function, started the way Slipway's gateway does it (Docker
// API, artifact put in with putArchive, health wait), next to a bare `docker run` of the
// same image with the artifact bind-mounted, in the same run. Target: ≤ 1.2× bare.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import Docker from "dockerode";
import { request } from "undici";
import { startRuntime, stopRuntime, waitForHealth } from "../../src/gateway/runtime-containers.js";
import { buildFunction } from "../../test/support/runtime-harness.js";

const run = promisify(execFile);
const docker = new Docker();
const iterations = Number(process.env.BENCH_ITERATIONS ?? 5);
const caBundle = "/etc/ssl/certs/ca-certificates.crt";

const functions = [
  { runtime: "node-20", entrypoint: "index.js", commands: "", files: { "index.js": 'module.exports = async (c) => c.res.text("hi");\n' } },
  { runtime: "python-3.13", entrypoint: "main.py", commands: "", files: { "main.py": 'def main(context):\n    return context.res.text("hi")\n' } },
  {
    runtime: "rust-1.85",
    entrypoint: "src/lib.rs",
    commands: "",
    files: {
      "Cargo.toml": '[package]\nname = "hi"\nversion = "0.1.0"\nedition = "2021"\n\n[lib]\nname = "handler"\npath = "src/lib.rs"\n\n[dependencies]\nopenruntimes = { package = "openruntimes-types-for-rust", version = "1" }\n',
      "src/lib.rs": 'use openruntimes::{Context, Response};\npub fn main(context: Context) -> Response { context.res.text("hi", None, None) }\n',
    },
  },
];

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

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

async function main() {
  const only = process.argv.slice(2);
  const rows: { runtime: string; slipway: number; bare: number }[] = [];
  for (const fn of functions.filter((f) => only.length === 0 || only.includes(f.runtime))) {
    const image = `slipway/runtime-${fn.runtime}:local`;
    const source = await mkdtemp(join(tmpdir(), "cold-start-src-"));
    for (const [name, content] of Object.entries(fn.files)) {
      await mkdir(join(source, name, ".."), { recursive: true });
      await writeFile(join(source, name), content);
    }
    const built = await buildFunction(image, source, { entrypoint: fn.entrypoint, commands: fn.commands, caBundlePath: caBundle, env: [`CARGO_HTTP_CAINFO=/usr/local/share/slipway/extra-ca.crt`], timeoutMs: 20 * 60_000 });
    if (built.exitCode !== 0) throw new Error(`${fn.runtime} build failed:\n${built.logs.slice(-2000)}`);
    const mount = await mkdtemp(join(tmpdir(), "cold-start-art-"));
    await writeFile(join(mount, "code.tar.gz"), built.artifact);

    const slipway: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i <= iterations; i++) {
      // Slipway's gateway path.
      const deploymentId = `bench-${randomBytes(6).toString("hex")}`;
      const t0 = performance.now();
      const runtime = await startRuntime(docker, {
        deploymentId,
        image,
        entrypoint: fn.entrypoint,
        artifact: () => Readable.from([built.artifact]),
        gatewaySecret: "bench-gateway-secret-0123456789",
        host: "127.0.0.1",
        limits: { memoryMb: 512, cpus: 1 },
        labels: { "slipway.bench": "cold-start" },
      });
      await waitForHealth(docker, runtime, 60_000);
      await firstResponse(`${runtime.baseUrl}/`, runtime.secret);
      const slipwayMs = performance.now() - t0;
      await stopRuntime(docker, deploymentId);

      // Bare docker run of the same image and artifact.
      const name = `bench-bare-${randomBytes(4).toString("hex")}`;
      const t1 = performance.now();
      await run("docker", ["run", "-d", "--name", name, "-p", "127.0.0.1::3000", "-v", `${mount}:/mnt/code:ro`, "-w", "/usr/local/server",
        "-e", "OPEN_RUNTIMES_SECRET=s", "-e", `OPEN_RUNTIMES_ENTRYPOINT=${fn.entrypoint}`, image, "bash", "helpers/start.sh", "bash helpers/server.sh"]);
      const port = (await run("docker", ["port", name, "3000/tcp"])).stdout.trim().split("\n")[0]!.split(":").pop();
      await firstResponse(`http://127.0.0.1:${port}/`, "s");
      const bareMs = performance.now() - t1;
      await run("docker", ["rm", "-f", name]);
      if (i > 0) {
        slipway.push(slipwayMs);
        bare.push(bareMs);
      }
    }
    rows.push({ runtime: fn.runtime, slipway: median(slipway), bare: median(bare) });
    await rm(source, { recursive: true, force: true });
    await rm(mount, { recursive: true, force: true });
  }

  console.log(`\nbench/cold-start: container create → first response (median of ${iterations})\n`);
  console.log(`${"runtime".padEnd(14)} ${"slipway".padStart(10)} ${"docker run".padStart(11)} ${"ratio".padStart(7)}`);
  for (const row of rows) {
    console.log(`${row.runtime.padEnd(14)} ${row.slipway.toFixed(0).padStart(7)} ms ${row.bare.toFixed(0).padStart(8)} ms ${(row.slipway / row.bare).toFixed(2).padStart(6)}×`);
  }
  console.log("\ntarget: ≤ 1.20× a bare docker run");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
