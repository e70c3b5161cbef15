// bench/build-cache: what the per-function build cache buys a Rust function.
// Builds bench/build-cache/function (serde_json + image with PNG, from crates.io)
// through runtimes/rust-1.85 exactly as Slipway's worker does (runtime harness:
// Docker API, tar archives, a cache volume at /mnt/cache with CARGO_HOME and
// CARGO_TARGET_DIR on it), first with a fresh volume (cold), then again after a
// change to src/lib.rs only (warm). Prints both times, their ratio (target ≥ 8×)
// and the artifact sizes, checks that the warm artifact serves the change, then
// removes its containers, volume and temporary files.
//
//   node --import tsx bench/build-cache/run.ts
//
// Needs slipway/runtime-rust-1.85:local (bash scripts/setup.sh) and crates.io
// reachable from build containers. BENCH_TIMEOUT_MINUTES bounds the whole run (default 25).
//
// BENCH_FUNCTION=avif builds bench/build-cache/avif instead: image (PNG, JPEG) + webp +
// ravif, the AVIF optimizer of issue 16, whose rav1e needs nasm (about 5 minutes cold on 2
// cores, so it is a bench, not a CI test). BENCH_IMAGE runs another image of the runtime.
// Measured on issue 16's image, on a shared 2-core machine under load (~12): cold 643 s
// (91 crates), warm 6.3 s after a one-line change (102×), serving a 349-byte AVIF.
import { existsSync, promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import tar from "tar-stream";
import {
  EXTRA_CA_PATH,
  buildFunction,
  createCacheVolume,
  docker,
  removeCacheVolume,
  startFunction,
  type BuildResult,
  type RunningFunction,
} from "../../test/support/runtime-harness.js";

const IMAGE = process.env.BENCH_IMAGE ?? "slipway/runtime-rust-1.85:local";
const HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
const variants = {
  thumbnail: { folder: "function", label: "gradient", description: "serde_json + image (png)", query: "size=32" },
  avif: { folder: "avif", label: "optimizer", description: "image (png, jpeg) + webp + ravif (AVIF)", query: "size=32&format=avif" },
} as const;
const variantName = (process.env.BENCH_FUNCTION ?? "thumbnail") as keyof typeof variants;
const variant = variants[variantName];
if (!variant) throw new Error(`BENCH_FUNCTION must be one of: ${Object.keys(variants).join(", ")}`);
const FUNCTION_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), variant.folder);
const TARGET_RATIO = 8;
const timeoutMinutes = Number(process.env.BENCH_TIMEOUT_MINUTES ?? 25);
const startedAt = Date.now();
/** Each build gets what is left of the budget minus a minute, so the harness
 * kills (and removes) a build container before the whole run gives up. */
const buildBudgetMs = () => Math.max(60_000, startedAt + timeoutMinutes * 60_000 - Date.now() - 60_000);

const seconds = (ms: number) => `${(ms / 1000).toFixed(1).padStart(6)} s`;
const size = (bytes: number) =>
  bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(2)} MB` : `${(bytes / 1024).toFixed(1)} KB`;

/** Size of one file inside a gzip artifact. */
async function fileSize(artifact: Buffer, name: string): Promise<number> {
  let found = 0;
  const extract = tar.extract();
  await new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      if (header.name.replace(/^\.\//, "") === name) found = header.size ?? 0;
      stream.on("end", next);
      stream.resume();
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
    extract.end(gunzipSync(artifact));
  });
  return found;
}

async function timedBuild(label: string, sourceDir: string, cacheVolume: string): Promise<{ result: BuildResult; ms: number }> {
  process.stdout.write(`${label}: building…\n`);
  const buildStartedAt = Date.now();
  const result = await buildFunction(IMAGE, sourceDir, {
    entrypoint: "src/lib.rs",
    commands: "",
    caBundlePath: existsSync(HOST_CA_BUNDLE) ? HOST_CA_BUNDLE : undefined,
    env: [`CARGO_HTTP_CAINFO=${EXTRA_CA_PATH}`],
    cacheVolume,
    memoryBytes: 2 * 1024 * 1024 * 1024,
    timeoutMs: buildBudgetMs(),
  });
  const ms = Date.now() - buildStartedAt;
  if (result.exitCode !== 0) throw new Error(`${label} build failed (exit ${result.exitCode}):\n${result.logs.slice(-4000)}`);
  return { result, ms };
}

async function main(): Promise<void> {
  try {
    await docker.getImage(IMAGE).inspect();
  } catch {
    throw new Error(`image ${IMAGE} is missing: run \`bash scripts/setup.sh\` first`);
  }

  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), "slipway-bench-cache-"));
  const source = path.join(workDir, "function");
  const cacheVolume = await createCacheVolume(`slipway-bench-cache-${process.pid}`);
  let running: RunningFunction | undefined;
  const cleanup = async () => {
    await running?.stop().catch(() => undefined);
    await removeCacheVolume(cacheVolume).catch(() => undefined);
    await fs.rm(workDir, { recursive: true, force: true });
  };
  const interrupted = () => void cleanup().finally(() => process.exit(130));
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);

  try {
    await fs.cp(FUNCTION_DIR, source, { recursive: true, filter: (file) => path.basename(file) !== "target" });

    const cold = await timedBuild("cold build (fresh cache volume)", source, cacheVolume);
    const crates = (cold.result.logs.match(/^\s*Compiling \S+ v/gm) ?? []).length;

    // A source-only change: the label the function reports.
    const lib = path.join(source, "src/lib.rs");
    await fs.writeFile(lib, (await fs.readFile(lib, "utf8")).replace(`"${variant.label} v1"`, `"${variant.label} v2"`));
    const warm = await timedBuild("warm rebuild (src/lib.rs changed, same volume)", source, cacheVolume);
    const recompiled = (warm.result.logs.match(/^\s*Compiling (\S+) v/gm) ?? []).map((line) => line.trim().split(" ")[1]);

    running = await startFunction(IMAGE, warm.result.artifact, { entrypoint: "src/lib.rs" });
    const reply = await fetch(`${running.url}/?${variant.query}`, {
      headers: { "x-open-runtimes-secret": running.secret, "x-format": "json" },
      signal: AbortSignal.timeout(30_000),
    });
    const served = (await reply.json()) as { label?: string; bytes?: number; format?: string };
    if (served.label !== `${variant.label} v2`) throw new Error(`the warm artifact serves ${JSON.stringify(served)}`);

    const ratio = cold.ms / warm.ms;
    const binaryCold = await fileSize(cold.result.artifact, "slipway-rust-server");
    const binaryWarm = await fileSize(warm.result.artifact, "slipway-rust-server");
    console.log("");
    console.log(`bench/build-cache — rust-1.85, ${variant.description}, CARGO_HOME/CARGO_TARGET_DIR on a volume (${IMAGE})`);
    console.log(`  cold build    ${seconds(cold.ms)}   (${crates} crates compiled)`);
    console.log(`  warm rebuild  ${seconds(warm.ms)}   (compiled: ${recompiled.join(", ") || "nothing"})`);
    console.log(`  ratio         ${ratio.toFixed(1).padStart(6)} ×   (target ≥ ${TARGET_RATIO}×: ${ratio >= TARGET_RATIO ? "met" : "NOT met"})`);
    console.log(`  artifact      cold ${size(cold.result.artifact.length)}, warm ${size(warm.result.artifact.length)} (gzip)`);
    console.log(`  binary        cold ${size(binaryCold)}, warm ${size(binaryWarm)} (slipway-rust-server, uncompressed)`);
    console.log(`  check         warm artifact serves label "${served.label}"${served.format ? ` (${served.bytes} bytes of ${served.format})` : ""}`);
  } finally {
    await cleanup();
  }
}

const deadline = setTimeout(() => {
  console.error(`bench/build-cache: gave up after ${timeoutMinutes} minutes`);
  process.exit(1);
}, timeoutMinutes * 60_000);

main()
  .then(() => {
    clearTimeout(deadline);
    process.exit(0);
  })
  .catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    clearTimeout(deadline);
    process.exit(1);
  });
