// Owns the runtime pool: per runtime image, a few runtime containers created and started
// ahead, that wait for code (helpers/pool-start.sh and helpers/pool-loader in the image).
// A cold start takes one instead of creating and starting a container: startRuntime sends
// it the artifact and the server's environment in one loopback HTTP call, renames it for
// the deployment, and the image's start script runs as in an ordinary start.
//
// A member is made exactly as an ordinary runtime container (runtimeContainerOptions: the
// same memory, CPU, pids, user, capabilities, read-only root, tmpfs and sandbox network),
// but with no secret and no function variable: only a load token. It serves one deployment
// and is never given back: retired, it is removed like any pooled runtime. A member idle
// for SLIPWAY_RUNTIME_POOL_IDLE_SECONDS retires itself (its loader exits) and is not
// replaced until that runtime's next cold start, so an unused runtime gives its memory back.
// The pool never holds more than SLIPWAY_RUNTIME_POOL_MEMORY_MB of members' memory limits.
import type Docker from "dockerode";
import { createHmac, randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { request } from "undici";
import { Counter, Gauge } from "prom-client";
import { registry } from "../metrics/metrics.js";
import { createRuntimeContainer, type PortRange, type RuntimeLimits } from "./runtime-containers.js";
import type { RuntimeSandbox } from "./runtime-sandbox.js";

export type PoolMember = { containerId: string; baseUrl: string; token: string; image: string; runtime: string; readyAt: number };

/** The label an image carries when it has the pool loader (runtimes/<name>/Dockerfile). */
export const poolImageLabel = "org.slipway.runtime-pool";

/** How a runtime container is made beyond its image: a member fits a start made the same way. */
export type PoolFitOptions = { host: string; limits: RuntimeLimits; network?: string | undefined; sandbox?: RuntimeSandbox | undefined };

export function poolFit(options: PoolFitOptions): string {
  return JSON.stringify([options.host, options.limits.memoryMb, options.limits.cpus, options.network ?? "", options.sandbox?.user ?? "", Boolean(options.sandbox?.readOnlyRootfs)]);
}

export type RuntimePool = {
  /** An idle member of the image made the way `fit` says, or null (a miss); never the same member twice. */
  take(image: string, fit: string): PoolMember | null;
  /**
   * Called with the container a cold start of the image got (a member or a created one):
   * the pool is refilled once that one is healthy (or after a minute), so that making the
   * next member never competes with the cold start it is meant to speed up.
   */
  refillAfter(image: string, baseUrl: string): void;
  /** A taken member that could not be loaded; the caller removes it. */
  failed(member: PoolMember, error: Error): void;
  /** Idle members per runtime. */
  idle(): Record<string, number>;
  /** Resolves once every pooled runtime has its full complement of idle members (benches, tests). */
  filled(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
};

const takes = new Counter({
  name: "slipway_runtime_pool_takes_total",
  help: "Cold starts that asked the runtime pool for a member, by runtime and outcome: hit (a started member took the code), miss (none idle, a container was created), failed (a member could not be loaded, a container was created)",
  labelNames: ["runtime", "outcome"] as const,
  registers: [registry],
});

const pools = new Set<{ idle(): Record<string, number> }>();
new Gauge({
  name: "slipway_runtime_pool_idle",
  help: "Started runtime containers waiting for code in the runtime pool, by runtime",
  labelNames: ["runtime"] as const,
  registers: [registry],
  collect() {
    this.reset();
    const sums: Record<string, number> = {};
    for (const pool of pools) for (const [runtime, count] of Object.entries(pool.idle())) sums[runtime] = (sums[runtime] ?? 0) + count;
    for (const [runtime, count] of Object.entries(sums)) this.set({ runtime }, count);
  },
});

/** Sends a member the server's environment and the artifact; resolves once it has both. */
export async function loadPoolMember(member: PoolMember, env: string[], artifact: Buffer): Promise<void> {
  for (const pair of env) if (pair.includes("\0")) throw new Error("a variable holds a NUL byte, which an environment cannot");
  const block = Buffer.from(env.map((pair) => `${pair}\0`).join(""), "utf8");
  const head = Buffer.alloc(4);
  head.writeUInt32BE(block.length, 0);
  const response = await request(`${member.baseUrl}/__slipway/load`, {
    method: "POST",
    headers: { "x-slipway-pool-token": member.token, "content-type": "application/octet-stream" },
    body: Buffer.concat([head, block, artifact]),
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  const text = await response.body.text();
  if (response.statusCode !== 204) throw new Error(`the pool member refused the code (${response.statusCode}): ${text.slice(0, 200)}`);
}

/** Whether an image has the pool loader: Slipway's own images from this version on. */
export async function imageSupportsPool(docker: Docker, image: string): Promise<boolean> {
  const info = await docker.getImage(image).inspect().catch(() => null);
  return info?.Config?.Labels?.[poolImageLabel] === "1";
}

/**
 * Creates, starts and waits for one member. Its installation label marks it as this
 * Slipway's (for removal once it has exited); its token is random and held by this process
 * only, so no other gateway, not even a replica of this one, can take it: two could
 * otherwise rename one container for two deployments. A gateway that dies leaves its idle
 * members to retire by themselves (SLIPWAY_RUNTIME_POOL_IDLE_SECONDS).
 */
export async function createPoolMember(
  docker: Docker,
  options: PoolFitOptions & { image: string; runtime: string; gatewaySecret: string; ports?: PortRange | null | undefined; idleSeconds: number; readyTimeoutMs?: number },
): Promise<PoolMember> {
  const name = `slipway-pool-${randomBytes(8).toString("hex")}`;
  const token = randomBytes(32).toString("hex");
  const { container, baseUrl } = await createRuntimeContainer(docker, {
    name,
    image: options.image,
    cmd: ["bash", "helpers/pool-start.sh"],
    env: [`SLIPWAY_POOL_TOKEN=${token}`, `SLIPWAY_POOL_IDLE_SECONDS=${options.idleSeconds}`],
    labels: { "slipway.pool": options.runtime, "slipway.pool.installation": installationOf(options.gatewaySecret) },
    host: options.host,
    ports: options.ports,
    limits: options.limits,
    network: options.network,
    sandbox: options.sandbox,
  });
  const member = { containerId: container.id, baseUrl, token, image: options.image, runtime: options.runtime, readyAt: 0 };
  try {
    await waitForLoader(docker, member, options.readyTimeoutMs ?? 60_000);
  } catch (error) {
    await container.remove({ force: true, v: true }).catch(() => {});
    throw error;
  }
  return { ...member, readyAt: Date.now() };
}

/** The value of a member's slipway.pool.installation label: which Slipway (gateway secret) made it. */
export function installationOf(gatewaySecret: string): string {
  return createHmac("sha256", gatewaySecret).update("pool-installation").digest("hex").slice(0, 16);
}

async function waitForLoader(docker: Docker, member: Pick<PoolMember, "containerId" | "baseUrl">, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let checks = 0;
  let problem = "no answer";
  while (Date.now() < deadline) {
    try {
      const response = await request(`${member.baseUrl}/__slipway/pool`, { headersTimeout: 2000, bodyTimeout: 2000 });
      await response.body.dump();
      if (response.statusCode === 200) return;
      problem = `answered ${response.statusCode}`;
    } catch (error) {
      problem = (error as Error).message;
    }
    if (++checks % 20 === 0) {
      const info = await docker.getContainer(member.containerId).inspect().catch(() => null);
      if (!info?.State.Running) throw new Error(`a pool member exited with code ${info?.State.ExitCode ?? "?"} before it waited for code`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`a pool member did not wait for code within ${Math.round(timeoutMs / 1000)} s (${problem})`);
}

export type RuntimePoolOptions = Omit<PoolFitOptions, "sandbox"> & {
  docker: Docker;
  log: Logger;
  gatewaySecret: string;
  ports?: PortRange | null | undefined;
  /** The runtimes that may be pooled: name, image and the user and root filesystem it runs with. */
  runtimes: { name: string; image: string; sandbox?: RuntimeSandbox | undefined }[];
  /** Idle members wanted per runtime name (0: that runtime is not pooled). */
  sizes: (runtime: string) => number;
  /** The most the pool's members may hold in memory limits, in MB. */
  memoryBudgetMb: number;
  /** A member not taken within this long retires (0: never). */
  idleSeconds: number;
};

/** Starts filling the pool; images without the pool loader are left out (logged once). */
export async function startRuntimePool(options: RuntimePoolOptions): Promise<RuntimePool> {
  const { docker, log } = options;
  const installation = installationOf(options.gatewaySecret);
  const idle = new Map<string, PoolMember[]>();
  const creating = new Map<string, number>();
  const wanted = new Map<string, number>();
  const imageOf = new Map<string, string>();
  const fillers = new Map<string, Promise<void>>();
  const retries = new Set<NodeJS.Timeout>();
  let closed = false;

  const pooled: { name: string; image: string; sandbox?: RuntimeSandbox | undefined }[] = [];
  for (const runtime of options.runtimes) {
    if (options.sizes(runtime.name) <= 0) continue;
    if (!(await imageSupportsPool(docker, runtime.image))) {
      log.info({ runtime: runtime.name, image: runtime.image }, "runtime not pooled: its image has no pool loader (rebuild it from runtimes/)");
      continue;
    }
    pooled.push(runtime);
    imageOf.set(runtime.image, runtime.name);
    idle.set(runtime.name, []);
    creating.set(runtime.name, 0);
  }
  // The budget is shared out one member at a time, each runtime in turn, up to its size.
  let budget = options.memoryBudgetMb;
  for (let round = 1; pooled.length && budget >= options.limits.memoryMb; round++) {
    const before = budget;
    for (const runtime of pooled) {
      if (options.sizes(runtime.name) >= round && budget >= options.limits.memoryMb) {
        wanted.set(runtime.name, round);
        budget -= options.limits.memoryMb;
      }
    }
    if (budget === before) break;
  }
  if (wanted.size) log.info({ members: Object.fromEntries(wanted), memoryBudgetMb: options.memoryBudgetMb, idleSeconds: options.idleSeconds }, "runtime pool: started containers waiting for code");
  for (const runtime of pooled) if (!wanted.get(runtime.name)) log.warn({ runtime: runtime.name, budgetMb: options.memoryBudgetMb }, "runtime not pooled: SLIPWAY_RUNTIME_POOL_MEMORY_MB holds no member of it");

  const count = (runtime: string) => (idle.get(runtime)?.length ?? 0) + (creating.get(runtime) ?? 0);
  const expired = (member: PoolMember) => options.idleSeconds > 0 && Date.now() - member.readyAt > options.idleSeconds * 1000 - 5000;

  /** Members retired by their idle timeout (exited) or held past it are removed; not replaced. */
  async function reap(): Promise<void> {
    // Exited members of this installation, which never had code (an assigned one is renamed).
    const exited = await docker.listContainers({ all: true, filters: { label: [`slipway.pool.installation=${installation}`], status: ["exited", "dead"] } }).catch(() => []);
    const gone = new Set(exited.map((c) => c.Id));
    for (const [runtime, members] of idle) {
      const keep = members.filter((member) => !expired(member) && !gone.has(member.containerId));
      for (const member of members) if (!keep.includes(member)) void docker.getContainer(member.containerId).remove({ force: true, v: true }).catch(() => {});
      idle.set(runtime, keep);
    }
    for (const container of exited) {
      if (container.Names.some((n) => n.startsWith("/slipway-pool-"))) await docker.getContainer(container.Id).remove({ force: true, v: true }).catch(() => {});
    }
  }

  function fill(runtime: string): Promise<void> {
    const running = fillers.get(runtime);
    if (running) return running;
    const work = (async () => {
      while (!closed && count(runtime) < (wanted.get(runtime) ?? 0)) {
        creating.set(runtime, (creating.get(runtime) ?? 0) + 1);
        try {
          const { image, sandbox } = pooled.find((r) => r.name === runtime)!;
          const member = await createPoolMember(docker, { ...options, image, sandbox, runtime });
          if (closed) {
            await docker.getContainer(member.containerId).remove({ force: true, v: true }).catch(() => {});
            return;
          }
          idle.get(runtime)!.push(member);
        } catch (error) {
          log.warn({ runtime, err: { message: (error as Error).message } }, "could not start a runtime pool member; trying again in 30 s");
          const retry = setTimeout(() => {
            retries.delete(retry);
            void fill(runtime);
          }, 30_000);
          retry.unref();
          retries.add(retry);
          return;
        } finally {
          creating.set(runtime, (creating.get(runtime) ?? 1) - 1);
        }
      }
    })().finally(() => fillers.delete(runtime));
    fillers.set(runtime, work);
    return work;
  }

  await reap();
  for (const runtime of pooled) void fill(runtime.name);
  const reaper = setInterval(() => void reap(), 60_000);
  reaper.unref();

  const pool: RuntimePool = {
    take(image, wantedFit) {
      const runtime = imageOf.get(image);
      if (!runtime || closed) return null;
      const members = idle.get(runtime)!;
      let member: PoolMember | undefined;
      if (wantedFit === poolFit({ ...options, sandbox: pooled.find((r) => r.name === runtime)!.sandbox })) {
        while ((member = members.shift()) && expired(member)) void docker.getContainer(member.containerId).remove({ force: true, v: true }).catch(() => {});
      }
      takes.inc({ runtime, outcome: member ? "hit" : "miss" });
      return member ?? null;
    },
    refillAfter(image, baseUrl) {
      const runtime = imageOf.get(image);
      if (!runtime || closed) return;
      void (async () => {
        const deadline = Date.now() + 60_000;
        while (!closed && Date.now() < deadline) {
          const healthy = await request(`${baseUrl}/__opr/health`, { headersTimeout: 2000, bodyTimeout: 2000 }).then(
            async (response) => (await response.body.dump(), response.statusCode === 200),
            () => false,
          );
          if (healthy) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        // A moment more for the cold start's first call.
        await new Promise((r) => setTimeout(r, 250));
        if (!closed) await fill(runtime);
      })();
    },
    failed(member, error) {
      takes.inc({ runtime: member.runtime, outcome: "failed" });
      log.warn({ runtime: member.runtime, err: { message: error.message } }, "a runtime pool member could not be loaded; creating a container instead");
    },
    idle() {
      return Object.fromEntries([...idle].map(([runtime, members]) => [runtime, members.length]));
    },
    async filled(timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      while (pooled.some((r) => (idle.get(r.name)?.length ?? 0) < (wanted.get(r.name) ?? 0))) {
        if (Date.now() > deadline) throw new Error("the runtime pool did not fill in time");
        for (const r of pooled) void fill(r.name);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      closed = true;
      pools.delete(pool);
      clearInterval(reaper);
      for (const timer of retries) clearTimeout(timer);
      await Promise.all([...fillers.values()]);
      for (const members of idle.values()) for (const member of members.splice(0)) await docker.getContainer(member.containerId).remove({ force: true, v: true }).catch(() => {});
    },
  };
  pools.add(pool);
  return pool;
}
