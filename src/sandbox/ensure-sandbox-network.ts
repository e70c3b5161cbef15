// Owns creating a sandbox network: a user-defined bridge with a fixed bridge name (what the
// host firewall rules match) and inter-container traffic turned off, made once and reused.
// Several workers and gateways may start at once, so losing the race to create it is fine.
import type Docker from "dockerode";
import type { SandboxNetwork } from "./sandbox-networks.js";

const bridgeNameOption = "com.docker.network.bridge.name";
const iccOption = "com.docker.network.bridge.enable_icc";

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

async function inspect(docker: Docker, name: string): Promise<Docker.NetworkInspectInfo | null> {
  try {
    return (await docker.getNetwork(name).inspect()) as Docker.NetworkInspectInfo;
  } catch (error) {
    if (statusOf(error) === 404) return null;
    throw error;
  }
}

function checkShape(network: SandboxNetwork, info: Docker.NetworkInspectInfo): void {
  const options = info.Options ?? {};
  if (info.Driver !== "bridge" || options[bridgeNameOption] !== network.bridge || options[iccOption] !== "false") {
    throw new Error(
      `the Docker network '${network.name}' exists but is not Slipway's sandbox network (a bridge named '${network.bridge}' with ${iccOption}=false); ` +
        `remove it with \`docker network rm ${network.name}\` once no container uses it, and start Slipway again`,
    );
  }
}

/** Creates the network unless it exists; throws, naming the fix, when one of that name is not ours. */
export async function ensureSandboxNetwork(docker: Docker, network: SandboxNetwork): Promise<void> {
  const existing = await inspect(docker, network.name);
  if (existing) return checkShape(network, existing);
  try {
    await docker.createNetwork({
      Name: network.name,
      Driver: "bridge",
      CheckDuplicate: true,
      EnableIPv6: false,
      Options: { [bridgeNameOption]: network.bridge, [iccOption]: "false" },
      Labels: { "slipway.role": "sandbox-network", "slipway.sandbox": network.purpose },
    });
  } catch (error) {
    // Another process made it meanwhile.
    const made = statusOf(error) === 409 ? await inspect(docker, network.name) : null;
    if (!made) throw new Error(`could not create the Docker network '${network.name}': ${(error as Error).message}`);
    checkShape(network, made);
  }
}
