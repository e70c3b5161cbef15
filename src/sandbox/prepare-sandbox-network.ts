// Owns what a worker or a gateway does about its sandbox network when it starts: make the
// network (start-up fails, naming the fix, when that is impossible) and, in the background,
// check that the host firewall rules are in place. Slipway does not need root, so it cannot
// install them; it says loudly which script does.
import type Docker from "dockerode";
import type { Logger } from "pino";
import { checkSandboxFirewall } from "./check-sandbox-firewall.js";
import { ensureSandboxNetwork } from "./ensure-sandbox-network.js";
import type { SandboxNetwork } from "./sandbox-networks.js";

export async function prepareSandboxNetwork(docker: Docker, network: SandboxNetwork, probeImage: string | undefined, log: Logger): Promise<void> {
  await ensureSandboxNetwork(docker, network);
  if (!probeImage) return;
  void checkSandboxFirewall(docker, network, probeImage).then(
    (check) => {
      if (check.inPlace) log.info({ network: network.name }, "sandbox firewall rules are in place");
      else
        log.warn(
          { network: network.name, probe: check.detail },
          `the sandbox firewall rules are NOT in place: ${network.purpose === "build" ? "builds" : "functions"} can reach the host and other containers; ` +
            "run scripts/sandbox-firewall.sh as root on the Docker host (scripts/setup.sh does)",
        );
    },
    (error: Error) =>
      log.warn({ network: network.name, err: { message: error.message } }, "could not check the sandbox firewall rules; run scripts/sandbox-firewall.sh as root on the Docker host if it has not run"),
  );
}
