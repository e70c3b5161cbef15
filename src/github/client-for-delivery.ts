// Owns which GitHub client handles a webhook delivery: Slipway's own client for the
// delivery's installation (throttled and retried per installation, shared with the worker's
// reports; see create-installation-client.ts), not a second one Probot would make per event.
import type { GitHubClient, InstallationClients } from "./create-installation-client.js";

export function clientForDelivery(installations: InstallationClients, context: { payload: unknown; octokit: unknown }): GitHubClient {
  const installationId = (context.payload as { installation?: { id?: unknown } }).installation?.id;
  return typeof installationId === "number" ? installations.forInstallation(installationId) : (context.octokit as GitHubClient);
}
