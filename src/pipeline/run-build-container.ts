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
/**
 * `removeMeter`: removes the disk meter, which mounts the cache volume too. Left to the
 * caller, so that its removal does not compete with what comes next (the artifact, the
 * activation) on a successful build; removeBuildContainers finds it if the worker dies first.
 */
export type BuildOutcome = {
  container: Docker.Container;
  exitCode: number;
  timedOut: boolean;
  output: string;
  diskOverrun?: DiskOverrun | null;
  diskPeakMb?: number;
  phases: Record<string, number>;
  removeMeter(): Promise<void>;
};

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

/** What a build container is made with before its build is known: no variables, no source. */
export type BuildContainerSpec = Pick<BuildRequest, "image" | "limits" | "labels" | "cacheVolume" | "network">;

export type PreparedBuildContainer = { container: Docker.Container; hardDiskLimit: boolean; imageMb: number };

// The container's first process only waits; the build runs as an exec in it, with the
// variables given to that exec. Waiting in bash (which builds need anyway) as the first
// process also reaps what the build leaves behind, so no zombie holds one of its pids. It
// waits for the build's time limit plus half an hour at most, so a container its worker lost
// track of stops by itself; the worker kills a build at its limit long before.
const idleCommand = (seconds: number) => ["bash", "-c", 'sleep "$1" & wait $!', "slipway-build-idle", String(seconds)];

// One made ahead waits `$1` seconds for a build to take it (SIGUSR1, see takeAheadSignal) and
// then stops, and Docker removes it; once taken, it lives as long as one made for its build.
const aheadCommand = (idleSeconds: number, buildSeconds: number) => [
  "bash",
  "-c",
  `taken=0
trap 'taken=1' USR1
sleep "$1" & idle=$!
while [ "$taken" = 0 ] && kill -0 "$idle" 2>/dev/null; do wait "$idle"; done
kill "$idle" 2>/dev/null
[ "$taken" = 1 ] || exit 0
trap '' USR1
sleep "$2" & busy=$!
while kill -0 "$busy" 2>/dev/null; do wait "$busy"; done`,
  "slipway-build-ahead",
  String(idleSeconds),
  String(buildSeconds),
];

/** Tells a container made ahead that a build took it (it then stays for the build). */
export const takeAheadSignal = "SIGUSR1";

/** The name a build's container gets once it is that deployment's (one made ahead is renamed to it). */
export function buildContainerName(deploymentId: string): string {
  return `slipway-build-${deploymentId}`;
}

/**
 * Creates and starts the container a build will run in, with its limits, network, cache
 * volume and capabilities, but without the function's variables or source: those come with
 * the build (runBuildContainer). Made while the source is fetched, so the build itself starts
 * with an exec, not a container create and start.
 */
export async function prepareBuildContainer(
  docker: Docker,
  spec: BuildContainerSpec,
  /** idleSeconds: made ahead of a build not known yet (build-containers-ahead.ts): it may wait that long first, and goes by itself. */
  ahead?: { idleSeconds: number },
): Promise<PreparedBuildContainer> {
  const { limits } = spec;
  const storageLimit = limits.diskMb ? await probeStorageLimit(docker, spec.image) : null;
  const hardDiskLimit = Boolean(storageLimit);
  // btrfs counts the image's files against the size as well.
  const imageMb = storageLimit?.countsImage ? Math.ceil(((await docker.getImage(spec.image).inspect()).Size ?? 0) / (1024 * 1024)) : 0;
  const container = await docker.createContainer({
    Image: spec.image,
    WorkingDir: "/usr/local/server",
    Entrypoint: ahead ? aheadCommand(ahead.idleSeconds, limits.timeoutSeconds + 1800) : idleCommand(limits.timeoutSeconds + 1800),
    Cmd: [],
    Labels: { ...spec.labels, "slipway.role": "build", ...(ahead ? { "slipway.ahead": "true" } : {}) },
    Tty: false,
    HostConfig: {
      ...(ahead ? { AutoRemove: true } : {}),
      Memory: limits.memoryMb * 1024 * 1024,
      MemorySwap: limits.memoryMb * 1024 * 1024,
      NanoCpus: Math.round(limits.cpus * 1e9),
      PidsLimit: limits.pids,
      SecurityOpt: ["no-new-privileges"],
      CapDrop: ["ALL"],
      CapAdd: ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "SETGID", "SETUID"],
      ...(spec.cacheVolume ? { Mounts: [{ Type: "volume" as const, Source: spec.cacheVolume, Target: cacheMountPath }] } : {}),
      ...(spec.network ? { NetworkMode: spec.network } : {}),
      ...(hardDiskLimit ? { StorageOpt: { size: `${limits.diskMb! + imageMb}M` } } : {}),
      LogConfig: { Type: "none", Config: {} },
    },
  });
  try {
    await container.start();
  } catch (error) {
    await container.remove({ force: true }).catch(() => {});
    throw error;
  }
  return { container, hardDiskLimit, imageMb };
}

/** Runs the build in `prepared` (made for the same image, limits, network and cache), or in a container made now. */
export async function runBuildContainer(docker: Docker, request: BuildRequest, prepared?: PreparedBuildContainer): Promise<BuildOutcome> {
  const { limits } = request;
  const phases: Record<string, number> = {};
  let phaseStarted = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    phases[name] = (phases[name] ?? 0) + now - phaseStarted;
    phaseStarted = now;
  };
  const ready = prepared ?? (await prepareBuildContainer(docker, request));
  const { container, hardDiskLimit } = ready;
  if (!prepared) phase("container start");
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

  const extras: ExtraEntry[] = request.extraCaBundle ? [{ name: extraCaPath, content: request.extraCaBundle }] : [];
  await container.putArchive(packDirectory(request.sourceDirectory, "mnt/code", extras) as unknown as NodeJS.ReadableStream, { path: "/" });
  phase("copy source in");

  const exec = await container.exec({
    Cmd: cmd,
    WorkingDir: "/usr/local/server",
    Env: [
      ...(request.env ?? []),
      `OPEN_RUNTIMES_ENTRYPOINT=${request.entrypoint}`,
      "CI=true",
      ...(request.cacheVolume ? cacheEnvironment : []),
      ...(packages.length > 0 ? [`SLIPWAY_BUILD_PACKAGES=${packages.join(" ")}`] : []),
      ...(dependencies ? dependencyEnvironment(dependencies) : []),
    ],
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
  });
  const output = new TailBuffer(256 * 1024);
  const stream = await exec.start({ hijack: true, stdin: false });
  const sink = new PassThrough();
  sink.on("data", (chunk: Buffer) => {
    const text = chunk.toString("utf8");
    output.push(text);
    request.onOutput?.(text);
  });
  docker.modem.demuxStream(stream, sink, sink);
  // The exec's output ends when its process does (or when the container is killed).
  const streamEnded = new Promise<void>((resolve) => {
    stream.on("end", resolve);
    stream.on("close", resolve);
    stream.on("error", () => resolve());
  });
  phase("exec start");
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
  const removeMeter = () => disk?.stop() ?? Promise.resolve();
  try {
    await streamEnded;
    const exitCode = await execExitCode(exec);
    phase("commands");
    const text = output.toString();
    await disk?.measure();
    let diskOverrun = disk?.overrun() ?? null;
    // The engine's hard limit makes the write fail instead: the same reason, in the build's words.
    if (!diskOverrun && hardDiskLimit && exitCode !== 0 && diskFull.test(text.slice(-16 * 1024))) {
      diskOverrun = { limitMb: limits.diskMb!, usedMb: limits.diskMb! };
    }
    phase("disk check");
    disk?.pause();
    return { container, exitCode, timedOut, output: text, diskOverrun, diskPeakMb: disk?.peakMb() ?? 0, phases, removeMeter };
  } catch (error) {
    void removeMeter();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The exit code of a finished exec. Its output can end a moment before the engine records
 * the code; a container that was killed or removed (time limit, memory, cancelled) counts as
 * killed (137), as a container's own process would.
 */
async function execExitCode(exec: Docker.Exec): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const info = await exec.inspect().catch(() => null);
    if (!info) return 137;
    if (!info.Running && info.ExitCode !== null) return info.ExitCode;
    await new Promise((r) => setTimeout(r, 10));
  }
  return 137;
}

/** Removes build containers left behind by a worker that died mid-build. */
export async function removeBuildContainers(docker: Docker, deploymentId: string): Promise<number> {
  const listed = await docker.listContainers({ all: true, filters: { label: [`slipway.deployment=${deploymentId}`] } });
  // The build and the container that measures its cache volume's disk use.
  const containers = listed.filter((c) => c.Labels["slipway.role"] === "build" || c.Labels["slipway.role"] === "build-meter");
  // One made ahead carries no deployment label; it was renamed for the deployment instead.
  const named = await docker.getContainer(buildContainerName(deploymentId)).inspect().catch(() => null);
  const ids = new Set([...containers.map((c) => c.Id), ...(named ? [named.Id] : [])]);
  await Promise.all([...ids].map((id) => docker.getContainer(id).remove({ force: true }).catch(() => {})));
  return ids.size;
}
