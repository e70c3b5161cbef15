// Slipway's one entry point: `slipway <app|worker|gateway|all>` checks the settings,
// applies migrations and starts the roles asked for (`all` runs the three in one process);
// every other `slipway …` is the command line (src/cli/run-cli.ts).
import Docker from "dockerode";
import { Redis } from "ioredis";
import { startApp, webhookPath } from "./app/start-app.js";
import { relayWebhooks } from "./app/relay-webhooks.js";
import { createArtifactStore } from "./artifacts/create-artifact-store.js";
import { ConfigError, loadConfig, type Config, type Role } from "./config/load-config.js";
import { envFilePath } from "./setup/env-file-path.js";
import { githubUrls } from "./setup/github-urls.js";
import { needsSetup } from "./setup/needs-setup.js";
import { startSetupServer } from "./setup/start-setup-server.js";
import { runCli } from "./cli/run-cli.js";
import { createInstallationClients } from "./github/create-installation-client.js";
import { startReportOutbox } from "./github/report-outbox.js";
import { startGateway } from "./gateway/start-gateway.js";
import { createLogger, type Logger } from "./logging/create-logger.js";
import { renderStartBanner } from "./logging/render-start-banner.js";
import { slipwayVersion } from "./config/slipway-version.js";
import { getFirstHourProgress } from "./store/first-hour-progress.js";
import { startMetricsServer } from "./metrics/metrics.js";
import { ListenError } from "./app/listen-server.js";
import { describeDatabaseFailure } from "./config/describe-database-failure.js";
import { createBuildQueue } from "./queue/build-queue.js";
import { createRedisWatcher, probeRedis } from "./queue/watch-redis.js";
import { startBuildWorker } from "./queue/start-build-worker.js";
import { loadRuntimeCatalog } from "./runtimes/runtime-catalog.js";
import { prepareSandboxNetwork } from "./sandbox/prepare-sandbox-network.js";
import { buildNetworkOf, runtimeNetworkOf } from "./sandbox/sandbox-networks.js";
import { createDatabase } from "./store/create-database.js";
import { createMissingDatabase } from "./store/create-missing-database.js";
import { runMigrations } from "./store/run-migrations.js";

const roles: readonly Role[] = ["app", "worker", "gateway", "all"];

/** A failure to start that is fully said in its message: one line, no stack. */
class StartupError extends Error {}

function loadConfigOrExit(role: Role): Config {
  try {
    return loadConfig(role);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

async function runSetupMode(role: Role): Promise<Logger> {
  // Every setting but the app's credentials is checked first (as for a gateway, which needs none).
  const base = loadConfigOrExit("gateway");
  const log = createLogger(base.LOG_LEVEL, "slipway", base.SLIPWAY_LOG_FORMAT).child({ role });
  const setup = await startSetupServer({
    port: base.SLIPWAY_APP_PORT,
    host: base.SLIPWAY_HOST,
    appUrl: base.appUrl,
    github: githubUrls(process.env),
    organization: process.env.GITHUB_ORG?.trim() || undefined,
    webhookProxyUrl: base.WEBHOOK_PROXY_URL,
    appName: process.env.SLIPWAY_APP_NAME,
    envFile: envFilePath(process.env),
    log,
  });
  // The link carries the one-time key, so it goes to the terminal, not into the log stream.
  log.info({ url: `${base.appUrl}/setup` }, "set-up mode: no GitHub App yet; open the set-up link printed on stderr");
  process.stderr.write(`\n  Slipway is in set-up mode: open ${setup.url}\n  and press "Register GitHub App".\n\n`);
  const values = await setup.registered;
  await setup.close();
  Object.assign(process.env, values);
  return log;
}

async function main(argv: string[]): Promise<void> {
  // `slipway <role>` starts a server; anything else (`slipway app --help` too) is the command line.
  if (argv.length !== 1 || !roles.includes(argv[0] as Role)) {
    process.exit(await runCli(argv));
  }
  const role = argv[0] as Role;

  // With no GitHub App at all, the app's port first serves the page that registers one.
  const setupLog = (role === "app" || role === "all") && needsSetup(process.env) ? await runSetupMode(role) : null;
  const config = loadConfigOrExit(role);

  const log = setupLog ?? createLogger(config.LOG_LEVEL, "slipway", config.SLIPWAY_LOG_FORMAT).child({ role });
  const created = await createMissingDatabase(config.DATABASE_URL).catch((error: unknown) => {
    throw new StartupError(describeDatabaseFailure(error, config.DATABASE_URL) ?? (error instanceof Error ? error.message : String(error)));
  });
  if (created) log.info({ database: created }, "created the database named in DATABASE_URL");
  const db = createDatabase(config.DATABASE_URL);
  const applied = await runMigrations(db).catch((error: unknown) => {
    throw new StartupError(describeDatabaseFailure(error, config.DATABASE_URL) ?? `PostgreSQL migrations failed: ${error instanceof Error ? error.message : String(error)}`);
  });
  if (applied.length > 0) log.info({ applied }, "database migrated");
  await probeRedis(config.REDIS_URL).catch((error: Error) => {
    throw new StartupError(error.message);
  });

  const watchRedis = createRedisWatcher(config.REDIS_URL, log);
  const redis = (name: string) => watchRedis(new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, connectionName: `slipway-${role}-${name}` }));
  const docker = new Docker();
  const artifacts = createArtifactStore(config);
  await artifacts.check().catch((error: Error) => {
    throw new StartupError(`the artifact store cannot be used: ${error.message}`);
  });
  const runtimes = loadRuntimeCatalog();
  const closers: (() => Promise<unknown>)[] = [];

  // Probes of the sandbox firewall run in a runtime image, which has bash.
  const probeImage = [...runtimes.values()][0]?.image;

  if (role === "gateway" || role === "all") {
    await prepareSandboxNetwork(docker, runtimeNetworkOf(config), probeImage, log.child({ component: "gateway" }));
    const gateway = await startGateway({ config, db, docker, artifacts, runtimes, publisher: redis("publish"), subscriber: redis("subscribe"), log: log.child({ component: "gateway" }) });
    closers.push(() => gateway.close());
    log.info({ url: gateway.url }, "gateway listening");
  }
  // One set of clients per process, so each installation's throttle covers all its roles.
  const installations = config.github ? createInstallationClients(config.github, { log, writeIntervalMs: config.SLIPWAY_GITHUB_WRITE_INTERVAL_MS }) : null;
  // Reporters send the reporting outbox to GitHub from every process that builds or takes webhooks.
  if ((role === "worker" || role === "app" || role === "all") && installations) {
    const reporter = startReportOutbox({ config, db, github: installations, log }, { concurrency: 4 });
    closers.push(() => reporter.stop());
  }
  if ((role === "worker" || role === "all") && config.github && installations) {
    await prepareSandboxNetwork(docker, buildNetworkOf(config), probeImage, log.child({ component: "worker" }));
    const worker = await startBuildWorker(
      { config, db, docker, artifacts, runtimes, github: installations, redis: redis("build-logs"), log: log.child({ component: "worker" }) },
      redis("worker"),
    );
    closers.push(() => worker.close());
    // In `all`, the app's and the gateway's /metrics already serve this process's metrics.
    if (role === "worker" && config.SLIPWAY_METRICS_PORT > 0) {
      const metrics = await startMetricsServer(config.SLIPWAY_METRICS_PORT, config.SLIPWAY_HOST, config.SLIPWAY_METRICS_TOKEN);
      closers.push(() => metrics.close());
      log.info({ url: `${metrics.url}/metrics` }, "worker metrics listening");
    }
    log.info("worker consuming builds");
  }
  if ((role === "app" || role === "all") && config.github && installations) {
    const queue = createBuildQueue(redis("queue"), config.SLIPWAY_QUEUE_PREFIX);
    const intake = createDatabase(config.DATABASE_URL, 2);
    const app = await startApp({ config, github: config.github, db, intake, queue, runtimes, installations, artifacts, redis: redis("api"), log: log.child({ component: "app" }) });
    // Closed in reverse: the app stops taking webhooks before their pool goes.
    closers.push(() => intake.end(), () => app.close(), () => queue.close());
    log.info({ url: app.url }, "app listening for webhooks");
    if (config.WEBHOOK_PROXY_URL) {
      const relayLog = log.child({ component: "relay" });
      // A channel that cannot be reached does not stop the app: webhooks can still arrive directly.
      const relay = await relayWebhooks(config.WEBHOOK_PROXY_URL, `${app.url}${webhookPath}`, relayLog).catch((error: Error) => {
        relayLog.warn({ reason: error.message }, "cannot reach WEBHOOK_PROXY_URL; webhooks sent to that channel will not arrive until Slipway restarts");
        return null;
      });
      if (relay) closers.push(() => relay.close());
    }
  }

  const servesApp = (role === "app" || role === "all") && Boolean(config.github);
  const servesGateway = role === "gateway" || role === "all";
  const progress = servesApp ? await getFirstHourProgress(db).catch(() => undefined) : undefined;
  process.stderr.write(
    renderStartBanner({
      version: slipwayVersion(),
      role,
      appUrl: servesApp ? config.appUrl : undefined,
      webhookProxyUrl: config.WEBHOOK_PROXY_URL,
      publicUrl: servesGateway ? config.publicUrl : undefined,
      progress,
    }),
  );
  log.info(
    {
      ...(servesApp ? { dashboard: `${config.appUrl}/dashboard`, webhook: config.WEBHOOK_PROXY_URL ?? `${config.appUrl}${webhookPath}`, api: `${config.appUrl}/v1` } : {}),
      ...(servesGateway ? { functions: `${config.publicUrl}/fn/` } : {}),
    },
    "slipway started",
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    const forced = setTimeout(() => process.exit(1), 30_000);
    forced.unref();
    for (const close of closers.reverse()) await close().catch((error) => log.error({ err: error }, "error while closing"));
    await db.end();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main(process.argv.slice(2)).catch((error) => {
  if (error instanceof StartupError || error instanceof ListenError) {
    process.stderr.write(`slipway cannot start: ${error.message}\n`);
  } else {
    const database = describeDatabaseFailure(error, process.env.DATABASE_URL ?? "postgres://slipway:slipway@127.0.0.1:5432/slipway");
    process.stderr.write(`slipway cannot start: ${database ?? (error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`);
  }
  process.exit(1);
});
