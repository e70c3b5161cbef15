// Owns the names of the two Docker networks Slipway sandboxes containers on. The host
// firewall (scripts/sandbox-firewall.sh) is keyed on their bridge names, which are fixed by
// default; SLIPWAY_BUILD_BRIDGE and SLIPWAY_RUNTIME_BRIDGE rename the bridges for a second
// Docker engine on one host (Linux interface names are global to the host).
export type SandboxNetwork = { name: string; bridge: string; purpose: "build" | "runtime" };

/** Builds: the package registries, and nothing of the host or of other containers. */
export function buildNetworkOf(config: { SLIPWAY_BUILD_BRIDGE: string }): SandboxNetwork {
  return { name: "slipway-build", bridge: config.SLIPWAY_BUILD_BRIDGE, purpose: "build" };
}

/** Runtimes: the internet, not one another, not the host (the gateway reaches them through published ports). */
export function runtimeNetworkOf(config: { SLIPWAY_RUNTIME_BRIDGE: string }): SandboxNetwork {
  return { name: "slipway-runtime", bridge: config.SLIPWAY_RUNTIME_BRIDGE, purpose: "runtime" };
}
