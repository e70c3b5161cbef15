// Owns the self-healing of the runtimes a gateway routes calls to. A container that dies
// (Docker's `die` event) or stops answering its health check (killed after a few missed
// probes) is started again: at once the first time, then after 1 s, 2 s, 4 s … (at most a
// minute) while it keeps going down; one that stayed up a minute starts over at once. Each
// restart is counted in slipway_runtime_restarts_total{reason} and logged with the function
// and version; three or more in a row are a crash loop, logged and shown in
// slipway_runtimes_crash_looping. Other containers on the engine are not this gateway's.
import type Docker from "dockerode";
import type { Logger } from "pino";
import { request } from "undici";
import { runtimeRestarts, runtimesCrashLooping } from "../metrics/metrics.js";
import type { RunningRuntime } from "./runtime-containers.js";

type RestartReason = "exited" | "unhealthy" | "start_failed";

const maxDelayMs = 60_000;
const stableAfterMs = 60_000;
const crashLoopAfter = 3;
// Six missed probes, 30 s and more, outlast any synchronous call's timeout (at most 30 s), so
// a function busy with one long call is never taken for hung.
const missedProbesBeforeKill = 6;
const probeIntervalMs = 5000;
const probeTimeoutMs = 5000;

type DeploymentHealth = { downs: number; upSince: number; timer?: NodeJS.Timeout; restarting: boolean; looping: boolean; missedProbes: number };

export type RuntimeHealerOptions = {
  docker: Docker;
  log: Logger;
  /** The runtimes that routes of this gateway point at now. */
  served(): RunningRuntime[];
  /** True while the gateway itself stops the deployment's container. */
  stoppingOnPurpose(deploymentId: string): boolean;
  /** The dead runtime is no longer handed out; the next call, or restart, starts another. */
  forget(deploymentId: string): void;
  /** Starts the deployment again and points its routes at it; rejects if it did not come up. */
  restart(deploymentId: string): Promise<void>;
  describe(deploymentId: string): Promise<{ functionId: string; version: number } | null>;
};

export function startRuntimeHealer(options: RuntimeHealerOptions): { close(): void } {
  const { docker, log } = options;
  const health = new Map<string, DeploymentHealth>();
  const killing = new Set<string>();
  let closed = false;
  let events: NodeJS.ReadableStream | null = null;

  const isServed = (deploymentId: string) => options.served().some((runtime) => runtime.deploymentId === deploymentId);

  function stateOf(deploymentId: string): DeploymentHealth {
    let state = health.get(deploymentId);
    if (!state) health.set(deploymentId, (state = { downs: 0, upSince: 0, restarting: false, looping: false, missedProbes: 0 }));
    return state;
  }

  function settle(deploymentId: string, state: DeploymentHealth): void {
    if (state.looping) runtimesCrashLooping.dec();
    health.delete(deploymentId);
  }

  function wentDown(deploymentId: string, reason: RestartReason, detail: Record<string, unknown>): void {
    if (closed || !isServed(deploymentId) || options.stoppingOnPurpose(deploymentId)) return;
    const state = stateOf(deploymentId);
    if (state.timer || state.restarting) return; // already on its way back
    options.forget(deploymentId);
    if (state.upSince && Date.now() - state.upSince >= stableAfterMs) {
      if (state.looping) runtimesCrashLooping.dec();
      Object.assign(state, { downs: 0, looping: false });
    }
    const delayMs = state.downs === 0 ? 0 : Math.min(1000 * 2 ** (state.downs - 1), maxDelayMs);
    state.downs++;
    state.missedProbes = 0;
    runtimeRestarts.inc({ reason });
    const looping = state.downs >= crashLoopAfter;
    if (looping && !state.looping) runtimesCrashLooping.inc();
    state.looping = looping;
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (closed || !isServed(deploymentId)) return settle(deploymentId, state);
      state.restarting = true;
      options.restart(deploymentId).then(
        () => {
          state.restarting = false;
          state.upSince = Date.now();
          log.info({ deploymentId, downs: state.downs }, "a runtime that went down serves again");
        },
        (error: Error) => {
          state.restarting = false;
          wentDown(deploymentId, "start_failed", { err: { message: error.message } });
        },
      );
    }, delayMs);
    state.timer.unref();
    const downs = state.downs;
    void options.describe(deploymentId).catch(() => null).then((described) => {
      const about = { deploymentId, ...described, reason, ...detail, downs, restartInMs: delayMs };
      if (looping) log.error(about, "a runtime is crash-looping; restarting it with a growing delay");
      else log.warn(about, "a runtime went down; restarting it");
    });
  }

  // Docker sends a `die` for every container that stops, whoever stopped it.
  function watchEvents(): void {
    if (closed) return;
    const filters = { type: ["container"], event: ["die"], label: ["slipway.role=runtime"] };
    docker.getEvents({ filters: JSON.stringify(filters) } as unknown as Docker.GetEventsOptions).then(
      (stream) => {
        events = stream;
        let buffered = "";
        stream.on("data", (chunk: Buffer) => {
          buffered += chunk.toString("utf8");
          const lines = buffered.split("\n");
          buffered = lines.pop() ?? "";
          for (const line of lines) {
            if (!line.trim()) continue;
            let event: { Actor?: { ID?: string; Attributes?: Record<string, string> } };
            try {
              event = JSON.parse(line);
            } catch {
              continue;
            }
            const deploymentId = event.Actor?.Attributes?.["slipway.deployment"];
            if (!deploymentId || killing.has(deploymentId)) continue;
            wentDown(deploymentId, "exited", { containerId: event.Actor?.ID, exitCode: Number(event.Actor?.Attributes?.exitCode ?? NaN) });
          }
        });
        stream.on("close", () => setTimeout(watchEvents, 1000).unref());
        stream.on("error", () => {});
      },
      (error: Error) => {
        log.warn({ err: { message: error.message } }, "could not watch Docker for runtimes that die; retrying");
        setTimeout(watchEvents, 5000).unref();
      },
    );
  }

  // A runtime that is up but hung answers nothing; it is killed, and its `die` is not counted twice.
  async function probe(runtime: RunningRuntime): Promise<void> {
    const state = stateOf(runtime.deploymentId);
    if (state.timer || state.restarting) return;
    try {
      const response = await request(`${runtime.baseUrl}/__opr/health`, { headersTimeout: probeTimeoutMs, bodyTimeout: probeTimeoutMs });
      await response.body.dump();
      if (response.statusCode === 200) return void (state.missedProbes = 0);
    } catch {
      // counted below
    }
    if (++state.missedProbes < missedProbesBeforeKill) return;
    killing.add(runtime.deploymentId);
    try {
      const container = docker.getContainer(runtime.containerId);
      // Stopped, not only signalled: a restart must not find it still running and adopt it.
      await container.kill().catch(() => {});
      await container.wait().catch(() => {});
      wentDown(runtime.deploymentId, "unhealthy", { containerId: runtime.containerId, missedProbes: state.missedProbes });
    } finally {
      killing.delete(runtime.deploymentId);
    }
  }

  const prober = setInterval(() => {
    const served = new Map(options.served().map((runtime) => [runtime.deploymentId, runtime]));
    for (const [deploymentId, state] of health) if (!served.has(deploymentId) && !state.timer && !state.restarting) settle(deploymentId, state);
    for (const runtime of served.values()) void probe(runtime);
  }, probeIntervalMs);
  prober.unref();
  watchEvents();

  return {
    close() {
      closed = true;
      clearInterval(prober);
      for (const [deploymentId, state] of health) {
        clearTimeout(state.timer);
        settle(deploymentId, state);
      }
      (events as unknown as { destroy?: () => void } | null)?.destroy?.();
    },
  };
}
