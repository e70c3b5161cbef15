// What the gateway needs from whatever runs its runtimes: start one for a deployment with
// its limits and environment, tell when it is healthy or exited, stop or park it, list what
// it runs, and read or take an execution's log files out of it. Docker implements it today
// (create-docker-runtime-engine.ts); docs/kubernetes.md describes, method by method, how
// Deployments and Services would. Nothing here names a container engine.
import type { Readable } from "node:stream";
import type { RunningRuntime, RuntimeLimits } from "./runtime-containers.js";
import type { RuntimeSandbox } from "./runtime-sandbox.js";
import type { LogFiles, TakenLogFiles } from "./take-log-files.js";

/** Everything a runtime is made from; the same spec always makes an equivalent runtime. */
export type RuntimeSpec = {
  deploymentId: string;
  functionId: string;
  /** The runtime's image (the catalog's), which serves open-runtimes' start contract. */
  image: string;
  entrypoint: string;
  /** The deployment's artifact, opened only when a runtime has to be given it. */
  artifact: () => Readable;
  limits: RuntimeLimits;
  /** The user it runs as and whether its root filesystem is read-only. */
  sandbox: RuntimeSandbox;
  /** NAME=value pairs: the function's variables and Slipway's own. Never logged. */
  env: string[] | Promise<string[]>;
};

/** A runtime that stopped, whoever stopped it. */
export type RuntimeExit = { deploymentId: string; runtimeId?: string | undefined; exitCode?: number | undefined };

export type RuntimeEngine = {
  /**
   * A runtime serving the deployment, reachable at the returned baseUrl with the returned
   * secret: one already running is adopted, a parked one started again, else one is made
   * (from a warm pool where the engine keeps one). Resolves once it has an address, not
   * once it is healthy (see waitHealthy).
   */
  start(spec: RuntimeSpec): Promise<RunningRuntime>;
  /** Resolves once the runtime answers its health check; rejects, with its exit code and last output, when it exits first or the time runs out. */
  waitHealthy(runtime: RunningRuntime, timeoutMs: number): Promise<void>;
  /** Removes the deployment's runtime and everything it held (its log files too). */
  stop(deploymentId: string): Promise<void>;
  /** Stops the runtime but keeps it, so a rollback is a process start; keeps at most `keepPerFunction` parked runtimes of its function. */
  park(deploymentId: string, keepPerFunction: number): Promise<void>;
  /** The deployments that have a runtime in this engine, running or parked. */
  list(): Promise<string[]>;
  /** Stops a hung runtime and resolves once it has stopped (so a restart does not adopt it). */
  kill(runtime: RunningRuntime): Promise<void>;
  /** Calls onExit for each runtime that stops, until closed; survives a dropped connection to the engine. */
  watchExits(onExit: (exit: RuntimeExit) => void): { close(): void };
  /** Reads (collect) and deletes (remove) execution log files in the runtime, in one round trip; rejects with statusCode 404 or 409 when the runtime is gone or stopped. */
  takeLogFiles(runtimeId: string, ids: { collect: readonly string[]; remove: readonly string[] }, limits: { capBytes: number; budgetBytes: number }): Promise<TakenLogFiles>;
  /** Reads one execution's log files (each capped), leaving them in place; empty when it wrote none or the runtime is gone. */
  readLogFiles(runtimeId: string, logId: string): Promise<LogFiles>;
  /** Whether the runtime received the call (it makes the log file as a call arrives); true when that cannot be told, so nothing runs twice. */
  receivedCall(runtimeId: string, logId: string): Promise<boolean>;
  /** Names this engine: gateway nodes that report the same name run their runtimes in one place, and leave each other's alone. */
  identity(): Promise<string>;
  /** Rejects, saying what to fix, when the engine does not answer (readiness). */
  ping(): Promise<void>;
  /** Stops the engine's own work (a warm pool's members); runtimes keep running. */
  close(): Promise<void>;
};
