// Owns GitHub clients: an @octokit/rest client authenticated as one installation of the app,
// and the short-lived installation token that git uses. Every client throttles and retries as
// Probot's own does (@octokit/plugin-throttling, @octokit/plugin-retry), per installation, so
// one tenant's burst never queues another's calls: writes one at a time and
// `writeIntervalMs` apart, as GitHub asks of an integration; primary and secondary rate limits
// waited out (retry-after, x-ratelimit-reset) and retried; 5xx answers retried with backoff.
import { createAppAuth } from "@octokit/auth-app";
import { retry } from "@octokit/plugin-retry";
import { throttling } from "@octokit/plugin-throttling";
import { Octokit } from "@octokit/rest";
import Bottleneck from "bottleneck";
import type { Logger } from "pino";
import type { GithubConfig } from "../config/load-config.js";

const GitHubOctokit = Octokit.plugin(throttling, retry);
export type GitHubClient = Octokit;

export type InstallationClients = {
  forInstallation(installationId: number): GitHubClient;
  installationToken(installationId: number): Promise<string>;
};

export type ClientSettings = {
  log: Logger;
  /** Time between two writes of one installation; GitHub asks for at least a second. */
  writeIntervalMs: number;
  /** Rate-limited requests are waited out and retried this many times before they fail. */
  rateLimitRetries?: number;
};

export function createInstallationClients(config: GithubConfig, settings: ClientSettings): InstallationClients {
  const log = settings.log.child({ component: "github-client" });
  const retries = settings.rateLimitRetries ?? 3;
  // Groups keyed by installation: each installation has its own queues.
  const write = new Bottleneck.Group({ maxConcurrent: 1, minTime: settings.writeIntervalMs });
  // Writes that notify people (comments) three times further apart, as plugin-throttling does.
  const notifications = new Bottleneck.Group({ maxConcurrent: 1, minTime: settings.writeIntervalMs * 3 });
  const onLimit = (kind: string) => (retryAfter: number, options: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
    const retrying = retryCount < retries;
    log.warn({ method: options.method, url: options.url, retryAfterSeconds: retryAfter, retrying }, `GitHub ${kind} rate limit`);
    return retrying;
  };
  const cache = new Map<number, GitHubClient>();
  const forInstallation = (installationId: number) => {
    let client = cache.get(installationId);
    if (!client) {
      client = new GitHubOctokit({
        baseUrl: config.GITHUB_API_URL,
        authStrategy: createAppAuth,
        auth: { appId: config.APP_ID, privateKey: config.PRIVATE_KEY, installationId },
        userAgent: "slipway",
        throttle: { id: `installation-${installationId}`, write, notifications, onRateLimit: onLimit("primary"), onSecondaryRateLimit: onLimit("secondary") },
        log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
      }) as unknown as GitHubClient;
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
