// Owns the app role's HTTP server: the webhook endpoint (which verifies x-hub-signature-256,
// stores the delivery and answers at once; see receive-webhook.ts), the API, the console
// (its pages and its sign-in with GitHub), /metrics and a health check; and this replica's
// webhook consumers, which run Probot's handlers on stored deliveries (see webhook-inbox.ts).
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { createServer, type Server } from "node:http";
import type { Logger } from "pino";
import { Probot } from "probot";
import { checkReadiness } from "../health/check-readiness.js";
import { gatewayCheck, postgresCheck, redisCheck } from "../health/readiness-checks.js";
import { createApiRouter } from "../api/create-api-router.js";
import type { ArtifactStore } from "../artifacts/artifact-store.js";
import { registerApiRoutes } from "../api/register-api-routes.js";
import type { Config, GithubConfig } from "../config/load-config.js";
import type { GitHubClient, InstallationClients } from "../github/create-installation-client.js";
import { clientForDelivery } from "../github/client-for-delivery.js";
import { handleComment, type CommentEvent } from "../github/handle-comment.js";
import { reportUnhandledDelivery } from "../github/report-unhandled-delivery.js";
import { handlePush, type PushEvent } from "../github/handle-push.js";
import { approveFromComment } from "../github/approve-from-comment.js";
import { registerPullRequestHandlers } from "../github/register-pull-request-handlers.js";
import { serveDashboard } from "../dashboard/serve-dashboard.js";
import { createSignInWithGithub } from "../console/sign-in-with-github.js";
import { gaugeFromSource, serveMetrics } from "../metrics/metrics.js";
import { listenServer } from "./listen-server.js";
import { createWebhookInbox } from "./webhook-inbox.js";
import { createWebhookReceiver } from "./receive-webhook.js";
import type { BuildJobData } from "../queue/build-queue.js";
import type { Runtime } from "../runtimes/runtime-catalog.js";
import type { Database } from "../store/create-database.js";

export const webhookPath = "/api/github/webhooks";

export type AppDependencies = {
  config: Config;
  github: GithubConfig;
  db: Database;
  queue: Queue<BuildJobData>;
  runtimes: Map<string, Runtime>;
  installations: InstallationClients;
  /** Where uploaded sources (`slipway deploy`) are kept for the worker. */
  artifacts: ArtifactStore;
  /** For following live build logs; optional. */
  redis?: Redis;
  /**
   * Where arriving webhooks are stored: a pool of their own, so an answer to GitHub never
   * waits for a connection behind the consumers' and reporters' work. Default: `db`.
   */
  intake?: Database;
  log: Logger;
};

export type App = { server: Server; url: string; close(): Promise<void> };

type WebhookComment = { id: number; body: string; author_association?: string; user: { login: string; type?: string | undefined } | null };

function toCommentEvent(
  octokit: unknown,
  repository: { name: string; owner: { login: string } },
  comment: WebhookComment,
  place: CommentEvent["place"],
): CommentEvent {
  return {
    octokit: octokit as GitHubClient,
    owner: repository.owner.login,
    repo: repository.name,
    commentId: comment.id,
    body: comment.body,
    author: { login: comment.user?.login ?? "", type: comment.user?.type ?? "User", ...(comment.author_association ? { association: comment.author_association } : {}) },
    place,
  };
}

// What the fleet holds, read from Postgres and the build queue when scraped.
function registerAppGauges(deps: AppDependencies): void {
  const countBy = async (sql: string) => Object.fromEntries((await deps.db.query<{ key: string; n: number }>(sql)).rows.map((r) => [r.key, r.n]));
  gaugeFromSource("slipway_deployments", "Deployments by status; pruned ones count as pruned", "status", () =>
    countBy("select case when pruned_at is null then status else 'pruned' end as key, count(*)::int as n from deployments group by 1"),
  );
  gaugeFromSource("slipway_webhook_deliveries_unfinished", "Webhook deliveries waiting for a retry (received) or given up (failed)", "status", () =>
    countBy("select status as key, count(*)::int as n from webhook_deliveries where status <> 'processed' group by 1"),
  );
  gaugeFromSource("slipway_build_queue_jobs", "Build jobs by state", "state", async () => deps.queue.getJobCounts("waiting", "active", "delayed", "failed"));
}

export async function startApp(deps: AppDependencies): Promise<App> {
  const probot = new Probot({
    appId: deps.github.APP_ID,
    privateKey: deps.github.PRIVATE_KEY,
    secret: deps.github.WEBHOOK_SECRET,
    baseUrl: deps.github.GITHUB_API_URL,
    log: deps.log.child({ module: "probot" }),
  });

  const scheduleDeps = { ...deps, github: deps.installations };
  const inbox = createWebhookInbox({
    db: deps.db,
    log: deps.log,
    settings: {
      retrySeconds: deps.config.SLIPWAY_WEBHOOK_RETRY_SECONDS,
      maxAttempts: deps.config.SLIPWAY_WEBHOOK_MAX_ATTEMPTS,
      concurrency: deps.config.SLIPWAY_WEBHOOK_CONCURRENCY,
    },
    onGivenUp: (delivery, reason) => reportUnhandledDelivery({ github: deps.installations, appUrl: deps.config.appUrl }, delivery, reason),
  });
  await probot.load((app) => {
    app.on("push", async (context) => {
      await handlePush(
        { deliveryId: context.id, octokit: clientForDelivery(deps.installations, context), payload: context.payload as unknown as PushEvent["payload"] },
        scheduleDeps,
      );
    });
    registerPullRequestHandlers(app, scheduleDeps);
    // Only new comments: an edited comment must not run a command twice. `approve` is for
    // fork pull requests, so only a pull-request comment can run it.
    const commentDeps = { ...deps, github: deps.installations };
    const pullRequestCommentDeps = { ...commentDeps, extraCommands: { approve: approveFromComment(scheduleDeps) } };
    app.on("issue_comment.created", async (context) => {
      const { comment, issue, repository } = context.payload;
      // Commands live in pull requests; the app may only read plain issues (app.yml: issues: read).
      if (!issue.pull_request) return;
      await handleComment(toCommentEvent(clientForDelivery(deps.installations, context), repository, comment, { kind: "issue", number: issue.number }), pullRequestCommentDeps);
    });
    app.on("commit_comment.created", async (context) => {
      const { comment, repository } = context.payload;
      await handleComment(toCommentEvent(clientForDelivery(deps.installations, context), repository, comment, { kind: "commit", sha: comment.commit_id }), commentDeps);
    });
  });
  const receiveWebhook = createWebhookReceiver({ db: deps.intake ?? deps.db, secret: deps.github.WEBHOOK_SECRET, log: deps.log, onStored: () => inbox.wake() });

  const api = createApiRouter({ db: deps.db, title: "Slipway API", onError: (error, req) => deps.log.error({ err: error, url: req.url }, "API request failed") });
  const apiRoutes = registerApiRoutes(api, deps);

  const serveSignIn = createSignInWithGithub({ db: deps.db, github: deps.github, appUrl: deps.config.appUrl, log: deps.log });

  registerAppGauges(deps);
  const server = createServer((req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
      return;
    }
    if (req.url === "/readyz") {
      return void checkReadiness([postgresCheck(deps.db), ...(deps.redis ? [redisCheck(deps.redis)] : []), gatewayCheck(deps.config.SLIPWAY_GATEWAY_URL)], res);
    }
    if (req.url === "/metrics" && req.method === "GET") return void serveMetrics(req, res, deps.config.SLIPWAY_METRICS_TOKEN, deps.config.SLIPWAY_HOST);
    if (api.handle(req, res)) return;
    if (serveDashboard(req, res)) return;
    if (serveSignIn(req, res)) return;
    if (req.method === "POST" && req.url?.split("?")[0] === webhookPath) return void receiveWebhook(req, res);
    res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
  });
  const stopConsumers = inbox.start(probot);
  await listenServer(server, { port: deps.config.SLIPWAY_APP_PORT, host: deps.config.SLIPWAY_HOST, setting: "SLIPWAY_APP_PORT" });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : deps.config.SLIPWAY_APP_PORT;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await stopConsumers();
      // Open event streams would keep the server from closing.
      await apiRoutes.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
