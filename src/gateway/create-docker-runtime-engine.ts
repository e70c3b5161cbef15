// The RuntimeEngine on a Docker engine (local, or remote through DOCKER_HOST): each method is
// one of the gateway's Docker functions (runtime-containers.ts, runtime-pool.ts,
// take-log-files.ts, watch-runtime-exits.ts, read-execution-logs.ts), unchanged.
import type Docker from "dockerode";
import type { Logger } from "pino";
import { listRuntimeDeployments, parkRuntime, startRuntime, stopRuntime, waitForHealth, type PortRange } from "./runtime-containers.js";
import type { RuntimeEngine } from "./runtime-engine.js";
import type { RuntimePool } from "./runtime-pool.js";
import { takeLogFiles } from "./take-log-files.js";
import { logFileExists, readExecutionLogs } from "../executions/read-execution-logs.js";
import { watchRuntimeExits } from "./watch-runtime-exits.js";

export function createDockerRuntimeEngine(options: {
  docker: Docker;
  log: Logger;
  gatewaySecret: string;
  /** The host runtimes publish their port on, and the gateway calls them at. */
  host: string;
  ports: PortRange | null;
  /** The sandboxed network runtimes run on (src/sandbox/). */
  network: string;
  /** Started containers waiting for code; closed with the engine. */
  pool: RuntimePool | null;
}): RuntimeEngine {
  const { docker, log, pool } = options;
  return {
    start: (spec) =>
      startRuntime(docker, {
        deploymentId: spec.deploymentId,
        image: spec.image,
        entrypoint: spec.entrypoint,
        artifact: spec.artifact,
        gatewaySecret: options.gatewaySecret,
        host: options.host,
        ports: options.ports,
        limits: spec.limits,
        sandbox: spec.sandbox,
        labels: { "slipway.function": spec.functionId },
        env: spec.env,
        network: options.network,
        pool,
      }),
    waitHealthy: (runtime, timeoutMs) => waitForHealth(docker, runtime, timeoutMs),
    stop: (deploymentId) => stopRuntime(docker, deploymentId),
    park: (deploymentId, keepPerFunction) => parkRuntime(docker, deploymentId, keepPerFunction),
    list: () => listRuntimeDeployments(docker),
    async kill(runtime) {
      const container = docker.getContainer(runtime.containerId);
      await container.kill().catch(() => {});
      await container.wait().catch(() => {});
    },
    watchExits: (onExit) => watchRuntimeExits(docker, log, onExit),
    takeLogFiles: (runtimeId, ids, limits) => takeLogFiles(docker, runtimeId, ids, limits),
    readLogFiles: (runtimeId, logId) => readExecutionLogs(docker, runtimeId, logId),
    receivedCall: (runtimeId, logId) => logFileExists(docker, runtimeId, logId),
    // The daemon's ID comes from its key in /etc/docker, which two daemons of one host (and
    // hosts cloned from one image) share; its host name and data root tell those apart.
    identity: async () => {
      const info = await docker.info();
      return `docker:${info.ID}:${info.Name}:${info.DockerRootDir}`;
    },
    ping: () =>
      docker.ping().then(
        () => undefined,
        (error: Error) => {
          throw new Error(`the Docker engine (DOCKER_HOST, default /var/run/docker.sock): ${error.message}`);
        },
      ),
    close: async () => {
      await pool?.close();
    },
  };
}
