// Owns the runtime containers that serve deployments, following the open-runtimes start
// contract: the artifact goes to /mnt/code/code.tar.gz (through putArchive), and
// `helpers/start.sh "bash helpers/server.sh"` serves it on port 3000 with the secret in
// OPEN_RUNTIMES_SECRET. The port is published on loopback only.
import type Docker from "dockerode";
import { createHmac } from "node:crypto";
import type { Readable } from "node:stream";
import tar from "tar-stream";
import { request } from "undici";
import { artifactFolder, runtimeSandbox, type RuntimeSandbox } from "./runtime-sandbox.js";
import { shippedLibraryPath } from "../pipeline/build-packages.js";
import { loadPoolMember, poolFit, type RuntimePool } from "./runtime-pool.js";

export type RuntimeLimits = { memoryMb: number; cpus: number };
export type PortRange = { from: number; to: number };

/** `startedAs`: how startRuntime got it running: already running, a parked container started again, a pool member loaded, or created. */
export type RunningRuntime = { deploymentId: string; containerId: string; baseUrl: string; secret: string; startedAs?: "running" | "parked" | "pooled" | "created" };

const runtimePort = "3000/tcp";
/** The host port a container was made for: a parked one keeps it, for when it is started again. */
const portLabel = "slipway.port";

/** Each deployment's runtime secret is derived, so a restarted gateway can still talk to its containers. */
export function runtimeSecret(gatewaySecret: string, deploymentId: string): string {
  return createHmac("sha256", gatewaySecret).update(`runtime:${deploymentId}`).digest("hex").slice(0, 40);
}

const namePrefix = "slipway-runtime-";

function containerName(deploymentId: string): string {
  return `${namePrefix}${deploymentId}`;
}

/**
 * The deployment a runtime container serves: its label, or for a pool member (made before
 * it had a deployment, and labels cannot change) the name it was given when assigned.
 */
export function runtimeDeploymentOf(labels: Record<string, string> | undefined, name: string | undefined): string | null {
  const labelled = labels?.["slipway.deployment"];
  if (labelled) return labelled;
  const bare = (name ?? "").replace(/^\//, "");
  return bare.startsWith(namePrefix) && labels?.["slipway.pool"] ? bare.slice(namePrefix.length) : null;
}

/** What a runtime container is made with, ordinary or pooled: one place for its limits and lockdown. */
export function runtimeContainerOptions(options: {
  name: string;
  image: string;
  cmd: string[];
  env: string[];
  labels: Record<string, string>;
  host: string;
  hostPort: string;
  limits: RuntimeLimits;
  network?: string | undefined;
  sandbox?: RuntimeSandbox | undefined;
}): Docker.ContainerCreateOptions {
  const sandbox = runtimeSandbox(options.sandbox ?? {}, options.limits.memoryMb);
  return {
    name: options.name,
    Image: options.image,
    WorkingDir: "/usr/local/server",
    Cmd: options.cmd,
    ...(sandbox.User ? { User: sandbox.User } : {}),
    Env: options.env,
    Labels: { ...options.labels, "slipway.role": "runtime", ...(options.hostPort ? { [portLabel]: options.hostPort } : {}) },
    ExposedPorts: { [runtimePort]: {} },
    HostConfig: {
      PortBindings: { [runtimePort]: [{ HostIp: options.host, HostPort: options.hostPort }] },
      ...(options.network ? { NetworkMode: options.network } : {}),
      Memory: options.limits.memoryMb * 1024 * 1024,
      NanoCpus: Math.round(options.limits.cpus * 1e9),
      // Capabilities, no-new-privileges, pids limit, read-only root: see runtime-sandbox.ts.
      ...sandbox.HostConfig,
      // A function that logs without end cannot fill the host's disk.
      LogConfig: { Type: "json-file", Config: { "max-size": "10m", "max-file": "2" } },
      RestartPolicy: { Name: "no" },
    },
  };
}

/**
 * Creates and starts a runtime container on the lowest free port of the range. A port is
 * bound only when the container starts; one another container or process took meanwhile is
 * tried again with the next free port. `prepare` runs between create and start.
 */
export async function createRuntimeContainer(
  docker: Docker,
  options: Omit<Parameters<typeof runtimeContainerOptions>[0], "hostPort"> & { ports?: PortRange | null | undefined },
  prepare?: (container: Docker.Container) => Promise<void>,
): Promise<{ container: Docker.Container; info: Docker.ContainerInspectInfo; baseUrl: string }> {
  for (let attempt = 1; ; attempt++) {
    const hostPort = options.ports ? String((await pickPort(docker, options.ports)) ?? "") : "";
    const container = await docker.createContainer(runtimeContainerOptions({ ...options, hostPort }));
    try {
      await prepare?.(container);
      await container.start();
    } catch (error) {
      await container.remove({ force: true, v: true }).catch(() => {});
      if (!hostPort || attempt >= 8 || !/port is already allocated|address already in use/i.test((error as Error).message)) throw error;
      continue;
    }
    const info = await container.inspect();
    const baseUrl = publishedUrl(info, options.host);
    if (!baseUrl) {
      await container.remove({ force: true, v: true }).catch(() => {});
      throw new Error("the runtime container has no published port");
    }
    return { container, info, baseUrl };
  }
}

/** What the server is started with: the shipped libraries' path, the variables, then the secret and entrypoint. */
function serverEnvironment(env: string[], secret: string, entrypoint: string): string[] {
  // Libraries the build shipped for build.packages (src/pipeline/build-packages.ts); the
  // function's own LD_LIBRARY_PATH variable, if any, comes after and wins.
  return [`LD_LIBRARY_PATH=${shippedLibraryPath}`, ...env, `OPEN_RUNTIMES_SECRET=${secret}`, `OPEN_RUNTIMES_ENTRYPOINT=${entrypoint}`];
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function publishedUrl(info: Docker.ContainerInspectInfo, host: string): string | null {
  const binding = info.NetworkSettings.Ports?.[runtimePort]?.[0];
  return binding?.HostPort ? `http://${host}:${binding.HostPort}` : null;
}

/** What a container was made with; a parked container is restarted only if this still matches. */
function specDigest(gatewaySecret: string, spec: { image: string; entrypoint: string; env: string[]; network?: string | undefined; sandbox?: RuntimeSandbox | undefined }): string {
  const made = [spec.image, spec.entrypoint, [...spec.env].sort(), ...(spec.network ? [spec.network] : []), ...(spec.sandbox ? [spec.sandbox.user ?? "", spec.sandbox.readOnlyRootfs ?? false] : [])];
  return createHmac("sha256", gatewaySecret).update(JSON.stringify(made)).digest("hex").slice(0, 32);
}

/**
 * A running runtime for the deployment. One inspect decides how: a running container (from
 * before a gateway restart) is adopted; a parked one, made with the same image, entrypoint
 * and environment, is started again, which skips creating it and copying the artifact in;
 * anything else is replaced: by a member of the runtime pool when one fits (already
 * started, it is given the artifact and the environment and renamed for the deployment),
 * or else by a new container.
 */
export async function startRuntime(
  docker: Docker,
  options: {
    deploymentId: string;
    image: string;
    entrypoint: string;
    /** Opened only when a new container is made. */
    artifact: () => Readable;
    gatewaySecret: string;
    host: string;
    /** Host ports to publish on (the lowest free one); null: any port Docker picks. */
    ports?: PortRange | null;
    limits: RuntimeLimits;
    labels: Record<string, string>;
    /** NAME=value pairs: the function's variables and Slipway's own. Never logged. */
    env?: string[] | Promise<string[]>;
    /** The Docker network it runs on: the sandbox network (src/sandbox/). One made before on another network is replaced. */
    network?: string;
    /** The runtime's user and read-only root (runtime-sandbox.ts); one made with another is replaced. */
    sandbox?: RuntimeSandbox;
    /** Started containers waiting for code (runtime-pool.ts); a member is used when one made the same way is idle. */
    pool?: RuntimePool | null;
  },
): Promise<RunningRuntime> {
  const name = containerName(options.deploymentId);
  const secret = runtimeSecret(options.gatewaySecret, options.deploymentId);
  const [existing, env] = await Promise.all([docker.getContainer(name).inspect().catch(() => null), Promise.resolve(options.env ?? [])]);
  const spec = specDigest(options.gatewaySecret, { image: options.image, entrypoint: options.entrypoint, env, network: options.network, sandbox: options.sandbox });
  const running = (id: string, info: Docker.ContainerInspectInfo): RunningRuntime | null => {
    const baseUrl = publishedUrl(info, options.host);
    return baseUrl ? { deploymentId: options.deploymentId, containerId: id, baseUrl, secret } : null;
  };

  if (existing?.State.Running && (!options.network || existing.HostConfig.NetworkMode === options.network)) {
    const adopted = running(existing.Id, existing);
    // A pool member renamed for the deployment by a gateway that died before it sent the
    // code still waits for it: it is replaced, not adopted.
    const unloaded = adopted && existing.Config.Labels?.["slipway.pool"] ? await waitingForCode(adopted.baseUrl) : false;
    if (adopted && !unloaded) return { ...adopted, startedAs: "running" };
  }
  if (existing && !existing.State.Running && existing.Config.Labels?.["slipway.spec"] === spec) {
    const parked = docker.getContainer(existing.Id);
    try {
      await parked.start();
      const restarted = running(existing.Id, await parked.inspect());
      if (restarted) return { ...restarted, startedAs: "parked" };
    } catch {
      // A parked container that cannot start again is replaced below.
    }
  }
  if (existing) await docker.getContainer(existing.Id).remove({ force: true, v: true }).catch(() => {});

  const artifact = readAll(options.artifact());
  artifact.catch(() => {}); // awaited below; a failure surfaces there
  const serverEnv = serverEnvironment(env, secret, options.entrypoint);

  // A pool member: already started, it needs only the code, the environment and its name.
  // Never parked (it has no spec label, and its start command waits for code again), so
  // retiring it removes it; it serves this deployment only.
  const member = options.pool?.take(options.image, poolFit(options));
  if (member) {
    try {
      // Named first: a gateway that dies after the code went in leaves no running function
      // under a pool member's name, where nothing would find it (see the adoption above).
      await docker.getContainer(member.containerId).rename({ name });
      await loadPoolMember(member, serverEnv, await artifact);
      options.pool!.refillAfter(options.image, member.baseUrl);
      return { deploymentId: options.deploymentId, containerId: member.containerId, baseUrl: member.baseUrl, secret, startedAs: "pooled" };
    } catch (error) {
      options.pool!.failed(member, error as Error);
      await docker.getContainer(member.containerId).remove({ force: true, v: true }).catch(() => {});
    }
  }

  const { info, container } = await createRuntimeContainer(
    docker,
    {
      name,
      image: options.image,
      cmd: ["bash", "helpers/start.sh", "bash helpers/server.sh"],
      env: serverEnv,
      labels: { ...options.labels, "slipway.deployment": options.deploymentId, "slipway.spec": spec },
      host: options.host,
      ports: options.ports,
      limits: options.limits,
      network: options.network,
      sandbox: options.sandbox,
    },
    async (created) => {
      const artifactBytes = await artifact;
      const pack = tar.pack();
      // A read-only root takes files only into its volumes, so the artifact goes into its folder's.
      const readOnly = Boolean(options.sandbox?.readOnlyRootfs);
      if (!readOnly) pack.entry({ name: "mnt/code/", type: "directory", mode: 0o755 });
      pack.entry({ name: readOnly ? "code.tar.gz" : "mnt/code/code.tar.gz", mode: 0o644 }, artifactBytes);
      pack.finalize();
      await created.putArchive(pack as unknown as NodeJS.ReadableStream, { path: readOnly ? artifactFolder : "/" });
    },
  );
  const started = running(container.id, info);
  if (!started) throw new Error("the runtime container has no published port");
  options.pool?.refillAfter(options.image, started.baseUrl);
  return { ...started, startedAs: "created" };
}

async function waitingForCode(baseUrl: string): Promise<boolean> {
  try {
    const response = await request(`${baseUrl}/__slipway/pool`, { headersTimeout: 2000, bodyTimeout: 2000 });
    const text = await response.body.text();
    return response.statusCode === 200 && text === "waiting";
  } catch {
    return false;
  }
}

/**
 * The lowest port of the range that no runtime container, running or parked, holds; null
 * when every one is taken, and Docker picks one outside the range (served without
 * kept-alive connections, see nginx-data-plane.ts). Lowest first, because nginx finds a
 * port's upstream by walking its list of upstreams from the start of the range.
 */
async function pickPort(docker: Docker, range: PortRange): Promise<number | null> {
  const containers = await docker.listContainers({ all: true, filters: { label: ["slipway.role=runtime"] } });
  const used = new Set(containers.flatMap((c) => [...c.Ports.map((p) => p.PublicPort), Number(c.Labels[portLabel])]));
  for (let port = range.from; port <= range.to; port++) if (!used.has(port)) return port;
  return null;
}

export async function waitForHealth(docker: Docker, runtime: RunningRuntime, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = "no answer";
  let nextInspection = Date.now() + 500;
  while (Date.now() < deadline) {
    try {
      const response = await request(`${runtime.baseUrl}/__opr/health`, { headersTimeout: 2000, bodyTimeout: 2000 });
      await response.body.dump();
      if (response.statusCode === 200) return;
      lastProblem = `health check answered ${response.statusCode}`;
    } catch (error) {
      lastProblem = (error as Error).message;
    }
    // Polling is cheap; asking Docker whether the container died is not, so do it less often.
    if (Date.now() >= nextInspection) {
      nextInspection = Date.now() + 500;
      const info = await docker.getContainer(runtime.containerId).inspect().catch(() => null);
      if (info && !info.State.Running) {
        const logs = await docker.getContainer(runtime.containerId).logs({ stdout: true, stderr: true, tail: 20 }).catch(() => Buffer.from(""));
        throw new Error(`the function's container exited with code ${info.State.ExitCode} before it was healthy: ${cleanDockerLog(logs)}`);
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`the function did not become healthy within ${Math.round(timeoutMs / 1000)} s (${lastProblem})`);
}

function cleanDockerLog(raw: Buffer): string {
  // Non-TTY logs are multiplexed with an 8-byte header per frame.
  const parts: string[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length) {
    const size = raw.readUInt32BE(offset + 4);
    parts.push(raw.subarray(offset + 8, offset + 8 + size).toString("utf8"));
    offset += 8 + size;
  }
  return parts.join("").replace(/\u001b\[[0-9;]*m/g, "").trim().split("\n").slice(-5).join(" | ");
}

export async function stopRuntime(docker: Docker, deploymentId: string): Promise<void> {
  // v: the container's anonymous volumes (artifact, logs, function folder) go with it.
  await docker.getContainer(containerName(deploymentId)).remove({ force: true, v: true }).catch(() => {});
}

/**
 * Retires a runtime but keeps its container, stopped, so that a rollback to it is a
 * process start rather than a create and a copy. Only the `keep` most recently made parked
 * containers of the function are kept; older ones are removed. A stopped container holds
 * disk only, no memory or CPU.
 */
export async function parkRuntime(docker: Docker, deploymentId: string, keep: number): Promise<void> {
  if (keep <= 0) return stopRuntime(docker, deploymentId);
  const container = docker.getContainer(containerName(deploymentId));
  const info = await container.inspect().catch(() => null);
  const functionId = info?.Config.Labels?.["slipway.function"];
  if (!info || !functionId) return stopRuntime(docker, deploymentId);
  // SIGKILL: the function keeps no state worth a graceful stop, and docker stop would wait.
  if (info.State.Running) await container.kill().catch(() => {});
  const parked = await docker.listContainers({ all: true, filters: { label: ["slipway.role=runtime", `slipway.function=${functionId}`], status: ["exited", "created", "dead"] } });
  parked.sort((a, b) => b.Created - a.Created);
  for (const extra of parked.slice(keep)) await docker.getContainer(extra.Id).remove({ force: true, v: true }).catch(() => {});
}

export async function listRuntimeDeployments(docker: Docker): Promise<string[]> {
  const containers = await docker.listContainers({ all: true, filters: { label: ["slipway.role=runtime"] } });
  return containers.map((c) => runtimeDeploymentOf(c.Labels, c.Names[0])).filter((id): id is string => Boolean(id));
}
