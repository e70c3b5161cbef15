// Docker sends a `die` event for every container that stops, whoever stopped it; this
// follows them for runtime containers and calls back with the deployment each served,
// watching again when the stream ends or cannot be opened.
import type Docker from "dockerode";
import type { Logger } from "pino";
import { runtimeDeploymentOf } from "./runtime-containers.js";
import type { RuntimeExit } from "./runtime-engine.js";

export function watchRuntimeExits(docker: Docker, log: Logger, onExit: (exit: RuntimeExit) => void): { close(): void } {
  let closed = false;
  let events: NodeJS.ReadableStream | null = null;
  function watch(): void {
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
            // A pool member has no deployment label: the name it was given when assigned says it.
            const deploymentId = runtimeDeploymentOf(event.Actor?.Attributes, event.Actor?.Attributes?.name);
            if (!deploymentId) continue;
            onExit({ deploymentId, runtimeId: event.Actor?.ID, exitCode: Number(event.Actor?.Attributes?.exitCode ?? NaN) });
          }
        });
        stream.on("close", () => setTimeout(watch, 1000).unref());
        stream.on("error", () => {});
      },
      (error: Error) => {
        log.warn({ err: { message: error.message } }, "could not watch Docker for runtimes that die; retrying");
        setTimeout(watch, 5000).unref();
      },
    );
  }
  watch();
  return {
    close() {
      closed = true;
      (events as unknown as { destroy?: () => void } | null)?.destroy?.();
    },
  };
}
