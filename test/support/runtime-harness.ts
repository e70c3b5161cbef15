// Drives a Slipway runtime image the way the executor does: through the Docker
// API only (dockerode + tar-stream), with no bind mounts. Source code, the CA
// bundle and build artifacts travel in and out of containers as tar archives.

import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import path from "node:path";
import { PassThrough, type Readable } from "node:stream";
import Docker from "dockerode";
import tar from "tar-stream";
import { artifactFolder, runtimeSandbox } from "../../src/gateway/runtime-sandbox.js";
import { loadRuntimeCatalog } from "../../src/runtimes/runtime-catalog.js";
import { createPoolMember, loadPoolMember } from "../../src/gateway/runtime-pool.js";

export const docker = new Docker();

/** Where the build container finds the extra CA bundle (NODE_EXTRA_CA_CERTS). */
export const EXTRA_CA_PATH = "/usr/local/share/slipway/extra-ca.crt";
/** Where a build's per-function cache volume is mounted, as Slipway's worker does. */
export const CACHE_MOUNT = "/mnt/cache";
/** The variables the worker sets when a cache volume is mounted at CACHE_MOUNT. */
export const CACHE_ENV: readonly string[] = [
  `CARGO_HOME=${CACHE_MOUNT}/cargo`,
  `CARGO_TARGET_DIR=${CACHE_MOUNT}/target`,
  `npm_config_cache=${CACHE_MOUNT}/npm`,
  `PIP_CACHE_DIR=${CACHE_MOUNT}/pip`,
];
const SERVER_WORKDIR = "/usr/local/server";

export interface BuildOptions {
  entrypoint: string;
  /** Shell commands run in the build folder, e.g. "npm install". */
  commands: string;
  /** Host CA bundle copied into the container for NODE_EXTRA_CA_CERTS. */
  caBundlePath?: string;
  /** Extra KEY=value variables for the build container. */
  env?: string[];
  memoryBytes?: number;
  nanoCpus?: number;
  pidsLimit?: number;
  /** Kill the build after this long (default 5 minutes). */
  timeoutMs?: number;
  /**
   * Docker volume mounted at CACHE_MOUNT, with CACHE_ENV set (entries in `env`
   * win over CACHE_ENV). Create it with createCacheVolume.
   */
  cacheVolume?: string;
}

export interface BuildResult {
  exitCode: number;
  /** stdout and stderr of the build, interleaved as they arrived. */
  logs: string;
  /** Contents of /mnt/code/code.tar.gz (empty when the build produced none). */
  artifact: Buffer;
}

export interface StartOptions {
  entrypoint: string;
  env?: string[];
  /**
   * created: create, put the artifact in, start (the default, or SLIPWAY_TEST_RUNTIME_START);
   * pooled: a runtime pool member, started before it has code, then given the artifact and
   * the environment as the gateway's pool does (src/gateway/runtime-pool.ts).
   */
  start?: "created" | "pooled";
  /** How long to wait for /__opr/health (default 60 s). */
  readyTimeoutMs?: number;
}

export interface RunningFunction {
  /** Base URL on the loopback interface, e.g. http://127.0.0.1:49153 */
  url: string;
  secret: string;
  container: Docker.Container;
  /** Reads one file out of the running container; null when it does not exist. */
  readFile(containerPath: string): Promise<Buffer | null>;
  /** Container stdout+stderr so far. */
  output(): Promise<string>;
  /** Force-removes the container. Safe to call more than once. */
  stop(): Promise<void>;
}

// ---- tar helpers ---------------------------------------------------------------

interface TarEntry {
  name: string;
  type: "file" | "directory" | "symlink";
  mode: number;
  content?: Buffer;
  linkname?: string;
}

function packTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    pack.on("data", (chunk: unknown) => chunks.push(chunk as Buffer));
    pack.on("end", () => resolve(Buffer.concat(chunks)));
    pack.on("error", reject);
  });
  const mtime = new Date();
  for (const entry of entries) {
    const header = { name: entry.name, mode: entry.mode, uid: 0, gid: 0, mtime };
    if (entry.type === "file") {
      pack.entry({ ...header, type: "file", size: entry.content?.length ?? 0 }, entry.content ?? Buffer.alloc(0));
    } else if (entry.type === "directory") {
      pack.entry({ ...header, type: "directory" });
    } else {
      pack.entry({ ...header, type: "symlink", linkname: entry.linkname ?? "" });
    }
  }
  pack.finalize();
  return done;
}

/** Every file, folder and symlink under `dir`, named `<prefix>/<relative path>`. */
async function collectTree(dir: string, prefix: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const walk = async (current: string): Promise<void> => {
    const children = await fs.readdir(current, { withFileTypes: true });
    children.sort((a, b) => a.name.localeCompare(b.name));
    for (const child of children) {
      const full = path.join(current, child.name);
      const name = `${prefix}/${path.relative(dir, full).split(path.sep).join("/")}`;
      const stat = await fs.lstat(full);
      if (stat.isSymbolicLink()) {
        entries.push({ name, type: "symlink", mode: 0o777, linkname: await fs.readlink(full) });
      } else if (stat.isDirectory()) {
        entries.push({ name: `${name}/`, type: "directory", mode: stat.mode & 0o7777 });
        await walk(full);
      } else if (stat.isFile()) {
        entries.push({ name, type: "file", mode: stat.mode & 0o7777, content: await fs.readFile(full) });
      }
    }
  };
  await walk(dir);
  return entries;
}

/** The contents of the first regular file in a tar stream (what getArchive returns for one file). */
function firstFileFromTar(stream: NodeJS.ReadableStream): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const extract = tar.extract();
    let result: Buffer | null = null;
    extract.on("entry", (header, entryStream, next) => {
      const chunks: Buffer[] = [];
      entryStream.on("data", (chunk: unknown) => chunks.push(chunk as Buffer));
      entryStream.on("end", () => {
        if (result === null && header.type === "file") result = Buffer.concat(chunks);
        next();
      });
      entryStream.on("error", reject);
    });
    extract.on("finish", () => resolve(result));
    extract.on("error", reject);
    stream.on("error", reject);
    stream.pipe(extract);
  });
}

function isNotFound(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { statusCode?: number }).statusCode === 404;
}

async function readContainerFile(container: Docker.Container, containerPath: string): Promise<Buffer | null> {
  let stream: NodeJS.ReadableStream;
  try {
    stream = await container.getArchive({ path: containerPath });
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
  return firstFileFromTar(stream);
}

/** Follows a (non-TTY) container's multiplexed output until it stops. */
async function collectOutput(container: Docker.Container): Promise<{ text: () => string; ended: Promise<void> }> {
  const chunks: Buffer[] = [];
  const raw = (await container.logs({ follow: true, stdout: true, stderr: true })) as unknown as Readable;
  const sink = new PassThrough();
  sink.on("data", (chunk: Buffer) => chunks.push(chunk));
  docker.modem.demuxStream(raw, sink, sink);
  const ended = new Promise<void>((resolve) => {
    raw.on("end", resolve);
    raw.on("close", resolve);
    raw.on("error", () => resolve());
  });
  return { text: () => Buffer.concat(chunks).toString("utf8"), ended };
}

async function removeQuietly(container: Docker.Container): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
  } catch (err) {
    if (!isNotFound(err) && !String(err).includes("already in progress")) throw err;
  }
}

// ---- build ---------------------------------------------------------------------

export async function buildFunction(image: string, sourceDir: string, options: BuildOptions): Promise<BuildResult> {
  const entries = await collectTree(sourceDir, "mnt/code");
  const env = [
    `OPEN_RUNTIMES_ENTRYPOINT=${options.entrypoint}`,
    ...(options.cacheVolume ? CACHE_ENV : []),
    ...(options.env ?? []),
  ];
  if (options.caBundlePath) {
    entries.push({ name: "usr/local/share/slipway/", type: "directory", mode: 0o755 });
    entries.push({
      name: EXTRA_CA_PATH.slice(1),
      type: "file",
      mode: 0o644,
      content: await fs.readFile(options.caBundlePath),
    });
    env.push(`NODE_EXTRA_CA_CERTS=${EXTRA_CA_PATH}`);
  }

  const container = await docker.createContainer({
    Image: image,
    WorkingDir: SERVER_WORKDIR,
    Env: env,
    Cmd: ["bash", "helpers/build.sh", options.commands],
    Labels: { "slipway.test": "runtime-harness", "slipway.role": "build" },
    HostConfig: {
      Memory: options.memoryBytes ?? 1024 * 1024 * 1024,
      NanoCpus: options.nanoCpus ?? 2_000_000_000,
      PidsLimit: options.pidsLimit ?? 512,
      ...(options.cacheVolume
        ? { Mounts: [{ Type: "volume" as const, Source: options.cacheVolume, Target: CACHE_MOUNT }] }
        : {}),
    },
  });
  try {
    await container.putArchive(await packTar(entries), { path: "/" });
    await container.start();
    const output = await collectOutput(container);

    const timeoutMs = options.timeoutMs ?? 5 * 60_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const waited = await Promise.race([container.wait() as Promise<{ StatusCode: number }>, timedOut]);
    clearTimeout(timer);
    if (waited === "timeout") {
      await container.kill().catch(() => undefined);
      await output.ended;
      return { exitCode: 124, logs: `${output.text()}\n[harness] build timed out after ${timeoutMs} ms`, artifact: Buffer.alloc(0) };
    }
    await output.ended;

    const artifact = waited.StatusCode === 0 ? await readContainerFile(container, "/mnt/code/code.tar.gz") : null;
    return { exitCode: waited.StatusCode, logs: output.text(), artifact: artifact ?? Buffer.alloc(0) };
  } finally {
    await removeQuietly(container);
  }
}

// ---- cache volumes ---------------------------------------------------------------

/** Creates a Docker volume for BuildOptions.cacheVolume and returns its name. */
export async function createCacheVolume(name = `slipway-test-cache-${randomBytes(6).toString("hex")}`): Promise<string> {
  await docker.createVolume({ Name: name, Labels: { "slipway.test": "runtime-harness" } });
  return name;
}

/** Removes a cache volume (and any stopped container still holding it). */
export async function removeCacheVolume(name: string): Promise<void> {
  try {
    await docker.getVolume(name).remove({ force: true });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/**
 * Runs `bash -c <script>` in a throw-away container of `image` with the cache
 * volume mounted at CACHE_MOUNT (e.g. to inspect or damage a cache).
 */
export async function runInCacheVolume(
  image: string,
  volume: string,
  script: string,
): Promise<{ exitCode: number; output: string }> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: ["bash", "-c", script],
    Labels: { "slipway.test": "runtime-harness", "slipway.role": "cache" },
    HostConfig: { Mounts: [{ Type: "volume", Source: volume, Target: CACHE_MOUNT }] },
  });
  try {
    await container.start();
    const output = await collectOutput(container);
    const waited = (await container.wait()) as { StatusCode: number };
    await output.ended;
    return { exitCode: waited.StatusCode, output: output.text() };
  } finally {
    await removeQuietly(container);
  }
}

// ---- start ---------------------------------------------------------------------

async function publishedPort(container: Docker.Container): Promise<number | null> {
  const info = await container.inspect();
  const bindings = info.NetworkSettings.Ports?.["3000/tcp"];
  const hostPort = bindings?.find((binding) => binding.HostIp === "127.0.0.1")?.HostPort ?? bindings?.[0]?.HostPort;
  return hostPort ? Number(hostPort) : null;
}

/** The catalog's runtime for an image, also under another tag (SLIPWAY_TEST_RUNTIME_TAG). */
function catalogRuntime(image: string) {
  const repository = (name: string) => name.replace(/:[^:/]+$/, "");
  const catalog = [...loadRuntimeCatalog({}).values()];
  return catalog.find((r) => r.image === image) ?? catalog.find((r) => repository(r.image) === repository(image));
}

export async function startFunction(image: string, artifact: Buffer, options: StartOptions): Promise<RunningFunction> {
  if ((options.start ?? process.env.SLIPWAY_TEST_RUNTIME_START) === "pooled") return startPooledFunction(image, artifact, options);
  const secret = randomBytes(24).toString("hex");
  // Locked down as the gateway runs it: the catalog's user and read-only root for this image.
  const runtime = catalogRuntime(image);
  const sandbox = runtimeSandbox({ user: runtime?.user, readOnlyRootfs: runtime?.readOnlyRootfs }, 512);
  const container = await docker.createContainer({
    ...(sandbox.User ? { User: sandbox.User } : {}),
    Image: image,
    WorkingDir: SERVER_WORKDIR,
    Env: [`OPEN_RUNTIMES_SECRET=${secret}`, `OPEN_RUNTIMES_ENTRYPOINT=${options.entrypoint}`, ...(options.env ?? [])],
    Cmd: ["bash", "helpers/start.sh", "bash helpers/server.sh"],
    Labels: { "slipway.test": "runtime-harness", "slipway.role": "runtime" },
    ExposedPorts: { "3000/tcp": {} },
    HostConfig: {
      PortBindings: { "3000/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] },
      ...sandbox.HostConfig,
    },
  });

  const output = async (): Promise<string> => {
    const buffer = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    return demuxBuffer(buffer);
  };
  const stop = async (): Promise<void> => removeQuietly(container);

  try {
    const readOnly = Boolean(runtime?.readOnlyRootfs);
    await container.putArchive(await packTar([{ name: readOnly ? "code.tar.gz" : "mnt/code/code.tar.gz", type: "file", mode: 0o644, content: artifact }]), {
      path: readOnly ? artifactFolder : "/",
    });
    await container.start();

    const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
    let url: string | null = null;
    for (;;) {
      const state = (await container.inspect()).State;
      if (!state.Running) {
        throw new Error(`runtime container exited with code ${state.ExitCode}:\n${await output()}`);
      }
      if (url === null) {
        const port = await publishedPort(container);
        if (port !== null) url = `http://127.0.0.1:${port}`;
      }
      if (url !== null) {
        try {
          const response = await fetch(`${url}/__opr/health`, { signal: AbortSignal.timeout(1_000) });
          await response.arrayBuffer();
          if (response.status === 200) break;
        } catch {
          // not listening yet
        }
      }
      if (Date.now() > deadline) throw new Error(`runtime did not become healthy in time:\n${await output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    return {
      url,
      secret,
      container,
      readFile: (containerPath) => readContainerFile(container, containerPath),
      output,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A pool member made and loaded as the gateway's pool does, then waited for like any start. */
async function startPooledFunction(image: string, artifact: Buffer, options: StartOptions): Promise<RunningFunction> {
  const secret = randomBytes(24).toString("hex");
  const runtime = catalogRuntime(image);
  const member = await createPoolMember(docker, {
    image,
    runtime: runtime?.name ?? "test",
    gatewaySecret: randomBytes(24).toString("hex"),
    host: "127.0.0.1",
    ports: null,
    limits: { memoryMb: 512, cpus: 1 },
    sandbox: { user: runtime?.user, readOnlyRootfs: runtime?.readOnlyRootfs },
    idleSeconds: 600,
  });
  const container = docker.getContainer(member.containerId);
  const output = async (): Promise<string> => demuxBuffer((await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer);
  const stop = async (): Promise<void> => removeQuietly(container);
  try {
    await loadPoolMember(member, [`OPEN_RUNTIMES_SECRET=${secret}`, `OPEN_RUNTIMES_ENTRYPOINT=${options.entrypoint}`, ...(options.env ?? [])], artifact);
    const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
    for (;;) {
      const state = (await container.inspect()).State;
      if (!state.Running) throw new Error(`runtime container exited with code ${state.ExitCode}:\n${await output()}`);
      try {
        const response = await fetch(`${member.baseUrl}/__opr/health`, { signal: AbortSignal.timeout(1_000) });
        await response.arrayBuffer();
        if (response.status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`runtime did not become healthy in time:\n${await output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { url: member.baseUrl, secret, container, readFile: (containerPath) => readContainerFile(container, containerPath), output, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Splits Docker's 8-byte-header multiplexed log format into plain text. */
function demuxBuffer(buffer: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    parts.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts).toString("utf8");
}
