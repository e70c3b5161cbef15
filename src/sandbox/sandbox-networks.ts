// Owns the names of the two Docker networks Slipway sandboxes containers on. The bridge
// names are fixed because the host firewall (scripts/sandbox-firewall.sh) is keyed on them.
export type SandboxNetwork = { name: string; bridge: string; purpose: "build" | "runtime" };

/** Builds: the package registries, and nothing of the host or of other containers. */
export const buildNetwork: SandboxNetwork = { name: "slipway-build", bridge: "slipway-build", purpose: "build" };

/** Runtimes: the internet, not one another, not the host (the gateway reaches them through published ports). */
export const runtimeNetwork: SandboxNetwork = { name: "slipway-runtime", bridge: "slipway-runtime", purpose: "runtime" };

