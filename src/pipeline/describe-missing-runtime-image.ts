// Owns the message for a runtime image that is not on the worker's Docker engine (a Python
// or Rust function on a machine where only the Node image was built): what to run, instead
// of Docker's "No such image".
import type Docker from "dockerode";
import type { Runtime } from "../runtimes/runtime-catalog.js";

export async function describeMissingRuntimeImage(docker: Docker, runtime: Pick<Runtime, "name" | "image">): Promise<string | null> {
  try {
    await docker.getImage(runtime.image).inspect();
    return null;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    const builtIn = runtime.image === `slipway/runtime-${runtime.name}:local`;
    return (
      `the runtime image ${runtime.image} (${runtime.name}) is not on this worker's Docker engine: build it with scripts/setup.sh` +
      (builtIn ? ` (or \`docker build -t ${runtime.image} runtimes/${runtime.name}\`; with compose, \`docker compose --profile runtimes build\`)` : ", or pull it") +
      ", then re-run this check"
    );
  }
}
