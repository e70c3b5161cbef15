// Owns the self-healing of the runtimes a gateway routes calls to. A container that dies
// (its engine reports it: Docker's `die` event) or stops answering its health check (killed
// after a few missed probes) is started again: at once the first time, then after 1 s, 2 s, 4 s … (at most a
// minute) while it keeps going down; one that stayed up a minute starts over at once. Each
// restart is counted in slipway_runtime_restarts_total{reason} and logged with the function
// and version; three or more in a row are a crash loop, logged and shown in
// slipway_runtimes_crash_looping. Each restart is also written to runtime_health, with the
// exit code and the next try, for the API and dashboard of every process; the row goes once the
// runtime stays up a minute or is no longer served. Other containers on the engine are not
// this gateway's.
import type { Logger } from "pino";
import { request } from "undici";
import { runtimeRestarts, runtimesCrashLooping } from "../metrics/metrics.js";
import type { Queryable } from "../store/create-database.js";
import { clearRuntimeHealth, recordRuntimeRestart } from "../store/runtime-health.js";
import type { RunningRuntime } from "./runtime-containers.js";
import type { RuntimeEngine } from "./runtime-engine.js";

type RestartReason = "exited" | "unhealthy" | "start_failed";

const maxDelayMs = 60_000;
const stableAfterMs = 60_000;
const crashLoopAfter = 3;
// Six missed probes, 30 s and more, outlast any synchronous call's timeout (at most 30 s), so
// a function busy with one long call is never taken for hung.
const missedProbesBeforeKill = 6;
const probeIntervalMs = 5000;
const probeTimeoutMs = 5000;

type DeploymentHealth = {
  downs: number;
  upSince: number;
  timer?: NodeJS.Timeout;
  restarting: boolean;
  looping: boolean;
  missedProbes: number;
  /** From a `die` seen while a restart was under way: why that restart then failed. */
  exitCode?: number;
};

/** The exit code in waitForHealth's error for a container that exited before it was healthy. */
function exitCodeIn(message: string): number | undefined {
  const match = /exited with code (-?\d+)/.exec(message);
  return match ? Number(match[1]) : undefined;
}

export type RuntimeHealerOptions = {
  /** Where the runtimes run: it reports those that stop and kills hung ones. */
  engine: Pick<RuntimeEngine, "watchExits" | "kill">;
  /** Where restarts are recorded for the API and dashboard (runtime_health). */
  db: Queryable;
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
  const { engine, log, db } = options;
  const health = new Map<string, DeploymentHealth>();
  // One deployment's writes in the order they were made: a clear never overtakes its restart.
  const writes = new Map<string, Promise<void>>();
  function persist(deploymentId: string, write: () => Promise<void>): void {
    const next = (writes.get(deploymentId) ?? Promise.resolve())
      .then(write)
      .catch((error: Error) => log.warn({ deploymentId, err: { message: error.message } }, "could not record a runtime's restarts"));
    writes.set(deploymentId, next);
    void next.then(() => {
      if (writes.get(deploymentId) === next) writes.delete(deploymentId);
    });
  }
  const killing = new Set<string>();
  let closed = false;

  const isServed = (deploymentId: string) => options.served().some((runtime) => runtime.deploymentId === deploymentId);

  function stateOf(deploymentId: string): DeploymentHealth {
    let state = health.get(deploymentId);
    if (!state) health.set(deploymentId, (state = { downs: 0, upSince: 0, restarting: false, looping: false, missedProbes: 0 }));
    return state;
  }

  /** `forget`: the deployment is no longer served here, so its restarts are no one's concern. */
  function settle(deploymentId: string, state: DeploymentHealth, forget = true): void {
    if (state.looping) runtimesCrashLooping.dec();
    if (forget && state.downs > 0) persist(deploymentId, () => clearRuntimeHealth(db, deploymentId));
    health.delete(deploymentId);
  }

  /** Up a minute since its last restart: a later death starts a new count, and the report goes. */
  function recovered(deploymentId: string, state: DeploymentHealth): void {
    if (state.looping) runtimesCrashLooping.dec();
    Object.assign(state, { downs: 0, looping: false, exitCode: undefined });
    persist(deploymentId, () => clearRuntimeHealth(db, deploymentId));
    log.info({ deploymentId }, "a restarted runtime stayed up a minute");
  }

  function wentDown(deploymentId: string, reason: RestartReason, detail: Record<string, unknown>): void {
    if (closed || !isServed(deploymentId) || options.stoppingOnPurpose(deploymentId)) return;
    const state = stateOf(deploymentId);
    if (state.timer || state.restarting) {
      // Already on its way back; the exit code says why the restart under way will fail.
      if (typeof detail.exitCode === "number" && Number.isInteger(detail.exitCode)) state.exitCode = detail.exitCode;
      return;
    }
    options.forget(deploymentId);
    if (state.downs > 0 && state.upSince && Date.now() - state.upSince >= stableAfterMs) recovered(deploymentId, state);
    const delayMs = state.downs === 0 ? 0 : Math.min(1000 * 2 ** (state.downs - 1), maxDelayMs);
    state.downs++;
    state.missedProbes = 0;
    runtimeRestarts.inc({ reason });
    const looping = state.downs >= crashLoopAfter;
    if (looping && !state.looping) runtimesCrashLooping.inc();
    state.looping = looping;
    const exitCode = typeof detail.exitCode === "number" && Number.isInteger(detail.exitCode) ? detail.exitCode : (state.exitCode ?? null);
    state.exitCode = undefined;
    const restart = { deploymentId, restarts: state.downs, reason, exitCode, nextRestartInMs: delayMs, crashLooping: looping };
    persist(deploymentId, () => recordRuntimeRestart(db, restart));
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (closed || !isServed(deploymentId)) return settle(deploymentId, state);
      state.restarting = true;
      options.restart(deploymentId).then(
        () => {
          state.restarting = false;
          state.upSince = Date.now();
          state.exitCode = undefined;
          log.info({ deploymentId, downs: state.downs }, "a runtime that went down serves again");
        },
        (error: Error) => {
          state.restarting = false;
          wentDown(deploymentId, "start_failed", { err: { message: error.message }, exitCode: exitCodeIn(error.message) ?? state.exitCode });
        },
      );
    }, delayMs);
    state.timer.unref();
    const downs = state.downs;
    void options.describe(deploymentId).catch(() => null).then((described) => {
      const about = { deploymentId, ...described, reason, ...detail, exitCode: exitCode ?? undefined, downs, restartInMs: delayMs };
      if (looping) log.error(about, "a runtime is crash-looping; restarting it with a growing delay");
      else log.warn(about, "a runtime went down; restarting it");
    });
  }

  // A runtime that is up but hung answers nothing; it is killed, and its `die` is not counted twice.
  async function probe(runtime: RunningRuntime): Promise<void> {
    const state = stateOf(runtime.deploymentId);
    if (state.timer || state.restarting) return;
    try {
      const response = await request(`${runtime.baseUrl}/__opr/health`, { headersTimeout: probeTimeoutMs, bodyTimeout: probeTimeoutMs });
      await response.body.dump();
      if (response.statusCode === 200) {
        state.missedProbes = 0;
        if (state.downs > 0 && state.upSince && Date.now() - state.upSince >= stableAfterMs && !state.timer && !state.restarting) recovered(runtime.deploymentId, state);
        return;
      }
    } catch {
      // counted below
    }
    if (++state.missedProbes < missedProbesBeforeKill) return;
    killing.add(runtime.deploymentId);
    try {
      // Stopped, not only signalled: a restart must not find it still running and adopt it.
      await engine.kill(runtime);
      wentDown(runtime.deploymentId, "unhealthy", { containerId: runtime.containerId, missedProbes: state.missedProbes });
    } finally {
      killing.delete(runtime.deploymentId);
    }
  }

  const prober = setInterval(() => {
    const served = new Map(options.served().map((runtime) => [runtime.deploymentId, runtime]));
    // One no longer served (another version was activated) waits for no back-off to end.
    for (const [deploymentId, state] of health) {
      if (served.has(deploymentId) || state.restarting) continue;
      clearTimeout(state.timer);
      settle(deploymentId, state);
    }
    for (const runtime of served.values()) void probe(runtime);
  }, probeIntervalMs);
  prober.unref();
  // The engine reports every runtime that stops, whoever stopped it.
  const exits = engine.watchExits((exit) => {
    if (killing.has(exit.deploymentId)) return;
    wentDown(exit.deploymentId, "exited", { containerId: exit.runtimeId, exitCode: exit.exitCode });
  });

  return {
    close() {
      closed = true;
      clearInterval(prober);
      for (const [deploymentId, state] of health) {
        clearTimeout(state.timer);
        // Still served, by the next gateway to start if not another: the report stays.
        settle(deploymentId, state, false);
      }
      exits.close();
    },
  };
}
