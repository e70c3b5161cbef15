// Owns the build disk limit on engines that cannot enforce one (see
// storage-limit-support.ts), and the cache volume's share of it on every engine: every
// couple of seconds it adds the build container's writable layer (`SizeRw`) to what its
// cache volume holds, and kills the build once the sum passes the limit.
//
// The cache volume is measured by a small container of its own (the build's image, the
// volume mounted read-only, no network, no capability but reading every folder), because
// the build cannot be trusted to report its own usage and the worker may not see the
// engine's disk (docker-compose gives it the socket only).
import type Docker from "dockerode";
import { PassThrough } from "node:stream";

export type DiskOverrun = { limitMb: number; usedMb: number };

export type BuildDiskWatch = {
  /** Set once the build passed the limit; the build container has been killed. */
  overrun(): DiskOverrun | null;
  /** The most the build held on disk at one reading, in MB. */
  peakMb(): number;
  /** Measures once more now: a build that wrote fast and exited between two readings is caught. */
  measure(): Promise<void>;
  /** Stops the readings; the meter's container stays until stop(). */
  pause(): void;
  stop(): Promise<void>;
};

const meterInterval = 2;
const mb = 1024 * 1024;

export function watchBuildDisk(
  docker: Docker,
  build: Docker.Container,
  options: { limitMb: number; image: string; cacheVolume?: string; cacheMountPath: string; labels: Record<string, string>; intervalMs?: number },
): BuildDiskWatch {
  const limitBytes = options.limitMb * mb;
  let cacheBytes = 0;
  let peak = 0;
  let overrun: DiskOverrun | null = null;
  let stopped = false;
  let stopping: Promise<void> | null = null;

  // Started beside the build rather than before it is waited for: a build that takes less
  // than the meter's start (a few hundred ms) is not held up by it. Its first reading is
  // the cache as the build found it, so a cache filled earlier still counts.
  const meter = options.cacheVolume ? startCacheMeter(docker, options, (bytes) => (cacheBytes = bytes)).catch(() => null) : Promise.resolve(null);

  let timer: NodeJS.Timeout | undefined;
  const check = async () => {
    // `size` is in Docker's API but not in dockerode's types.
    const info = (await build.inspect({ size: true } as Docker.ContainerInspectOptions).catch(() => null)) as (Docker.ContainerInspectInfo & { SizeRw?: number }) | null;
    if (stopped || !info) return;
    const used = (info.SizeRw ?? 0) + cacheBytes;
    peak = Math.max(peak, used);
    if (used > limitBytes && !overrun) {
      overrun = { limitMb: options.limitMb, usedMb: Math.ceil(used / mb) };
      await build.kill().catch(() => {});
    }
  };
  const loop = () => {
    timer = setTimeout(() => {
      void check().finally(() => {
        if (!stopped && !overrun) loop();
      });
    }, options.intervalMs ?? meterInterval * 1000);
  };
  loop();

  return {
    overrun: () => overrun,
    peakMb: () => Math.ceil(peak / mb),
    measure: () => (stopped || overrun ? Promise.resolve() : check()),
    pause() {
      stopped = true;
      clearTimeout(timer);
    },
    stop() {
      if (stopping) return stopping;
      stopped = true;
      clearTimeout(timer);
      stopping = meter.then((container) => container?.remove({ force: true })).then(
        () => {},
        () => {},
      );
      return stopping;
    },
  };
}

async function startCacheMeter(
  docker: Docker,
  options: { image: string; cacheVolume?: string; cacheMountPath: string; labels: Record<string, string> },
  onReading: (bytes: number) => void,
): Promise<Docker.Container> {
  const container = await docker.createContainer({
    Image: options.image,
    Entrypoint: ["sh", "-c", `while :; do du -skx ${options.cacheMountPath} 2>/dev/null; sleep ${meterInterval}; done`],
    Cmd: [],
    Labels: { ...options.labels, "slipway.role": "build-meter" },
    User: "0:0",
    Tty: false,
    HostConfig: {
      NetworkMode: "none",
      ReadonlyRootfs: true,
      SecurityOpt: ["no-new-privileges"],
      CapDrop: ["ALL"],
      // Folders the build made unreadable are still counted.
      CapAdd: ["DAC_READ_SEARCH"],
      PidsLimit: 16,
      Memory: 64 * mb,
      NanoCpus: 500_000_000,
      LogConfig: { Type: "none", Config: {} },
      Mounts: [{ Type: "volume", Source: options.cacheVolume!, Target: options.cacheMountPath, ReadOnly: true }],
    },
  });
  try {
    const stream = await container.attach({ stream: true, stdout: true, stderr: false });
    const out = new PassThrough();
    let pending = "";
    out.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const kilobytes = Number(line.split("\t")[0]);
        if (Number.isFinite(kilobytes)) onReading(kilobytes * 1024);
      }
    });
    docker.modem.demuxStream(stream, out, new PassThrough());
    await container.start();
    return container;
  } catch (error) {
    await container.remove({ force: true }).catch(() => {});
    throw error;
  }
}
