// Owns one build inside a runtime container, following the open-runtimes build contract:
// the source goes to /mnt/code, `helpers/build.sh '<commands>'` runs in /usr/local/server
// and leaves /mnt/code/code.tar.gz. The container gets memory, CPU, pid and wall-time
// limits, no extra privileges, and no Docker socket.
import type Docker from "dockerode";
import { PassThrough } from "node:stream";
import { buildPackagesScript } from "./build-packages.js";
import { dependencyEnvironment, dependencyReuseScript, type DependencyPlan } from "./dependency-reuse.js";
import { packDirectory, type ExtraEntry } from "./pack-directory.js";
import { probeStorageLimit } from "./probe-storage-limit.js";
import { watchBuildDisk, type DiskOverrun } from "./watch-build-disk.js";

export type BuildLimits = { memoryMb: number; cpus: number; pids: number; timeoutSeconds: number; /** The container's writable layer plus its cache volume. */ diskMb?: number };

export type BuildRequest = {
  image: string;
  sourceDirectory: string;
  entrypoint: string;
  commands: string;
  limits: BuildLimits;
  labels: Record<string, string>;
  extraCaBundle?: Buffer;
  /** A Docker volume kept between this function's builds, mounted at /mnt/cache. */
  cacheVolume?: string;
  /** NAME=value pairs: the function's variables. Never logged. */
  env?: string[];
  /** Debian packages to install before the commands (slipway.yml's build.packages, already checked). */
  packages?: string[];
  /** The Docker network the build runs on: the sandbox network (src/sandbox/). */
  network?: string;
  /** Reuse of node_modules from the cache volume (dependency-reuse.ts); needs cacheVolume. */
  dependencies?: DependencyPlan | null;
  onOutput?: (text: string) => void;
};

export const cacheMountPath = "/mnt/cache";

// The standard variables each toolchain reads for its cache, so official open-runtimes
// images use the cache too without knowing about Slipway.
export const cacheEnvironment = [
  `npm_config_cache=${cacheMountPath}/npm`,
  `PIP_CACHE_DIR=${cacheMountPath}/pip`,
  `CARGO_HOME=${cacheMountPath}/cargo`,
  `CARGO_TARGET_DIR=${cacheMountPath}/target`,
];

/** `phases`: where the build's milliseconds went (container create, copy in, start, run, exit). */
export type BuildOutcome = { container: Docker.Container; exitCode: number; timedOut: boolean; output: string; diskOverrun?: DiskOverrun | null; diskPeakMb?: number; phases: Record<string, number> };

// How a write that hit the engine's hard limit fails, in any toolchain's words.
const diskFull = /No space left on device|ENOSPC|Disk quota exceeded|EDQUOT/;

const extraCaPath = "usr/local/share/slipway/extra-ca.crt";

// Additive CA setup for images we do not control: the extra bundle is appended to the
// image's own bundle and every common client is pointed at the result.
const caPrelude = `
extra=/${extraCaPath}
combined=/usr/local/share/slipway/ca-bundle.crt
: > "$combined"
for system in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
  if [ -f "$system" ]; then cat "$system" >> "$combined"; break; fi
done
cat "$extra" >> "$combined"
export NODE_EXTRA_CA_CERTS="$extra" SSL_CERT_FILE="$combined" CURL_CA_BUNDLE="$combined" GIT_SSL_CAINFO="$combined" \\
  PIP_CERT="$combined" REQUESTS_CA_BUNDLE="$combined" CARGO_HTTP_CAINFO="$combined"
`;

/** Keeps the last `limit` characters of a stream of text. */
export class TailBuffer {
  private text = "";
  constructor(private readonly limit: number) {}
  push(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.limit * 2) this.text = this.text.slice(-this.limit);
  }
  toString(): string {
    return this.text.slice(-this.limit);
  }
}

export async function runBuildContainer(docker: Docker, request: BuildRequest): Promise<BuildOutcome> {
  const { limits } = request;
  const phases: Record<string, number> = {};
  let phaseStarted = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    phases[name] = (phases[name] ?? 0) + now - phaseStarted;
    phaseStarted = now;
  };
  const storageLimit = limits.diskMb ? await probeStorageLimit(docker, request.image) : null;
  const hardDiskLimit = Boolean(storageLimit);
  // btrfs counts the image's files against the size as well.
  const imageMb = storageLimit?.countsImage ? Math.ceil(((await docker.getImage(request.image).inspect()).Size ?? 0) / (1024 * 1024)) : 0;
  const packages = request.packages ?? [];
  const dependencies = request.cacheVolume ? (request.dependencies ?? null) : null;
  const preludes = [
    ...(request.extraCaBundle ? [caPrelude] : []),
    ...(packages.length > 0 ? [buildPackagesScript] : []),
    ...(dependencies ? [dependencyReuseScript] : []),
  ];
  const cmd =
    preludes.length > 0
      ? ["bash", "-c", `${preludes.join("\n")}\nexec bash helpers/build.sh "$1"\n`, "slipway-build", request.commands]
      : ["bash", "helpers/build.sh", request.commands];
  const container = await docker.createContainer({
    Image: request.image,
    WorkingDir: "/usr/local/server",
    Cmd: cmd,
    Env: [
      ...(request.env ?? []),
      `OPEN_RUNTIMES_ENTRYPOINT=${request.entrypoint}`,
      "CI=true",
      ...(request.cacheVolume ? cacheEnvironment : []),
      ...(packages.length > 0 ? [`SLIPWAY_BUILD_PACKAGES=${packages.join(" ")}`] : []),
      ...(dependencies ? dependencyEnvironment(dependencies) : []),
    ],
    Labels: { ...request.labels, "slipway.role": "build" },
    Tty: false,
    HostConfig: {
      Memory: limits.memoryMb * 1024 * 1024,
      MemorySwap: limits.memoryMb * 1024 * 1024,
      NanoCpus: Math.round(limits.cpus * 1e9),
      PidsLimit: limits.pids,
      SecurityOpt: ["no-new-privileges"],
      CapDrop: ["ALL"],
      CapAdd: ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "SETGID", "SETUID"],
      ...(request.cacheVolume ? { Mounts: [{ Type: "volume" as const, Source: request.cacheVolume, Target: cacheMountPath }] } : {}),
      ...(request.network ? { NetworkMode: request.network } : {}),
      ...(hardDiskLimit ? { StorageOpt: { size: `${limits.diskMb! + imageMb}M` } } : {}),
    },
  });

  phase("create");
  const extras: ExtraEntry[] = request.extraCaBundle ? [{ name: extraCaPath, content: request.extraCaBundle }] : [];
  await container.putArchive(packDirectory(request.sourceDirectory, "mnt/code", extras) as unknown as NodeJS.ReadableStream, { path: "/" });

  phase("copy source in");
  const output = new TailBuffer(256 * 1024);
  const stream = await container.attach({ stream: true, stdout: true, stderr: true });
  const sink = new PassThrough();
  sink.on("data", (chunk: Buffer) => {
    const text = chunk.toString("utf8");
    output.push(text);
    request.onOutput?.(text);
  });
  docker.modem.demuxStream(stream, sink, sink);
  const streamEnded = new Promise<void>((resolve) => {
    stream.on("end", resolve);
    stream.on("close", resolve);
    stream.on("error", () => resolve());
  });

  await container.start();
  phase("container start");
  // Not awaited: the meter's own container starts while the build runs, not before it is waited for.
  const disk = limits.diskMb
    ? watchBuildDisk(docker, container, {
        limitMb: limits.diskMb,
        image: request.image,
        cacheMountPath,
        labels: request.labels,
        ...(request.cacheVolume ? { cacheVolume: request.cacheVolume } : {}),
      })
    : null;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    container.kill().catch(() => {});
  }, limits.timeoutSeconds * 1000);
  try {
    const result = (await container.wait()) as { StatusCode: number };
    phase("commands");
    // Give the log stream a moment to drain after the process exits.
    await Promise.race([streamEnded, new Promise((r) => setTimeout(r, 2000))]);
    const text = output.toString();
    await disk?.measure();
    let diskOverrun = disk?.overrun() ?? null;
    // The engine's hard limit makes the write fail instead: the same reason, in the build's words.
    if (!diskOverrun && hardDiskLimit && result.StatusCode !== 0 && diskFull.test(text.slice(-16 * 1024))) {
      diskOverrun = { limitMb: limits.diskMb!, usedMb: limits.diskMb! };
    }
    phase("disk check");
    return { container, exitCode: result.StatusCode, timedOut, output: text, diskOverrun, diskPeakMb: disk?.peakMb() ?? 0, phases };
  } finally {
    clearTimeout(timer);
    // The meter goes in the background; removeBuildContainers finds it if this worker dies first.
    void disk?.stop();
  }
}

/** Removes build containers left behind by a worker that died mid-build. */
export async function removeBuildContainers(docker: Docker, deploymentId: string): Promise<number> {
  const listed = await docker.listContainers({ all: true, filters: { label: [`slipway.deployment=${deploymentId}`] } });
  // The build and the container that measures its cache volume's disk use.
  const containers = listed.filter((c) => c.Labels["slipway.role"] === "build" || c.Labels["slipway.role"] === "build-meter");
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
  return containers.length;
}
