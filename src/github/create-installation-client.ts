// Owns GitHub clients outside a webhook: an @octokit/rest client authenticated as one
// installation of the app, and the short-lived installation token that git uses.
import { createAppAuth } from "@octokit/auth-app";
import { Octokit } from "@octokit/rest";
import type { GithubConfig } from "../config/load-config.js";

export type GitHubClient = Octokit;

export type InstallationClients = {
  forInstallation(installationId: number): GitHubClient;
  installationToken(installationId: number): Promise<string>;
};

export function createInstallationClients(config: GithubConfig): InstallationClients {
  const cache = new Map<number, GitHubClient>();
  const forInstallation = (installationId: number) => {
    let client = cache.get(installationId);
    if (!client) {
      client = new Octokit({
        baseUrl: config.GITHUB_API_URL,
        authStrategy: createAppAuth,
        auth: { appId: config.APP_ID, privateKey: config.PRIVATE_KEY, installationId },
        userAgent: "slipway",
        log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
      });
      cache.set(installationId, client);
    }
    return client;
  };
  return {
    forInstallation,
    async installationToken(installationId) {
      const auth = (await forInstallation(installationId).auth({ type: "installation" })) as { token: string };
      return auth.token;
    },
  };
}
