// Starts Slipway for an integration test the way an operator runs it: the app, worker and
// gateway as separate processes (so a test can SIGKILL one), on a fresh database and a
// fresh queue prefix, talking to the GitHub emulator instead of github.com. Extra gateways
// and workers ("gateway-2", "worker-2", …) share that database and prefix, as several
// replicas do in production; the first gateway is the one workers activate through.
// A process starts with `env` as it is when it is spawned, so a test can change a setting
// (a master key, say) and restart the processes to apply it.
import { installationOf } from "../../src/gateway/runtime-pool.js";
import { spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Docker from "dockerode";
import { deliverWebhook, type DeliverWebhookResult } from "../emulator/deliver-webhook.js";
import { startGitHubEmulator } from "../emulator/start-github-emulator.js";
import { createTestDatabase } from "./create-test-database.js";

export type Role = "app" | "worker" | "gateway";
/** A role's first process is named after the role; more of them are "<role>-2", "<role>-3", … */
export type ProcessName = Role | `${Role}-${number}`;
const slipwayBin = fileURLToPath(new URL("../../bin/slipway.js", import.meta.url));
const hostCaBundle = "/etc/ssl/certs/ca-certificates.crt";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

async function waitForHttp(url: string, timeoutMs: number, process: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (process.exitCode !== null) throw new Error(`process exited with ${process.exitCode} before ${url} answered:\n${output()}`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms:\n${output()}`);
}

function roleOf(name: ProcessName): Role {
  return name.split("-")[0] as Role;
}

export type SlipwayStackOptions = {
  env?: Record<string, string>;
  /** Gateways besides the first, each on its own port: "gateway-2", "gateway-3", … */
  extraGateways?: number;
  /** Workers besides the first: "worker-2", "worker-3", … */
  extraWorkers?: number;
  /** Settings for one process only, over `env`: say, { "gateway-2": { SLIPWAY_DATA_PLANE: "node" } }. */
  processEnv?: Partial<Record<ProcessName, Record<string, string>>>;
};

export async function startSlipwayStack(options: SlipwayStackOptions = {}) {
  const id = randomBytes(4).toString("hex");
  const appId = 100_000 + Math.floor(Math.random() * 100_000);
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  const webhookSecret = randomBytes(20).toString("hex");
  const gatewaySecret = randomBytes(24).toString("hex");

  // The gateway applies the migrations when it starts, as in production.
  const testDatabase = await createTestDatabase({ migrate: false });
  const databaseUrl = testDatabase.url;
  const db = testDatabase.db;

  const emulator = await startGitHubEmulator({ appId, publicKey });
  const artifactDir = await mkdtemp(join(tmpdir(), "slipway-artifacts-"));
  const appPort = await freePort();
  const gatewayPort = await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/root",
    APP_ID: String(appId),
    PRIVATE_KEY: privateKey,
    WEBHOOK_SECRET: webhookSecret,
    GITHUB_API_URL: emulator.apiUrl,
    GITHUB_CLIENT_ID: emulator.oauthClient.clientId,
    GITHUB_CLIENT_SECRET: emulator.oauthClient.clientSecret,
    DATABASE_URL: databaseUrl,
    REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
    SLIPWAY_QUEUE_PREFIX: `slipway-test-${id}`,
    SLIPWAY_ARTIFACT_DIR: artifactDir,
    SLIPWAY_GATEWAY_SECRET: gatewaySecret,
    SLIPWAY_GATEWAY_URL: `http://127.0.0.1:${gatewayPort}`,
    SLIPWAY_APP_PORT: String(appPort),
    SLIPWAY_GATEWAY_PORT: String(gatewayPort),
    SLIPWAY_HOST: "127.0.0.1",
    SLIPWAY_WORKER_LOCK_SECONDS: "4",
    SLIPWAY_WATCHDOG_INTERVAL_SECONDS: "5",
    SLIPWAY_ACTIVATION_GRACE_SECONDS: "5",
    // A stack is SIGKILLed at its end; the build containers its worker made ahead then go
    // by themselves after this, not after the production default's 10 minutes.
    SLIPWAY_BUILD_AHEAD_SECONDS: "60",
    LOG_LEVEL: "info",
    // Tests run the gateway as the README recommends for production: nginx serves public
    // function URLs. SLIPWAY_TEST_DATA_PLANE=node runs them against the gateway's own proxy.
    SLIPWAY_DATA_PLANE: process.env.SLIPWAY_TEST_DATA_PLANE ?? "nginx",
    // Throttled as in production, only with shorter gaps between one installation's writes.
    SLIPWAY_GITHUB_WRITE_INTERVAL_MS: "100",
    // No runtime pool unless a test asks for one (test/e2e/runtime-pool.test.ts): a pooled
    // container is never parked, and many stacks share this machine's memory.
    SLIPWAY_RUNTIME_POOL_SIZE: "0",
    ...(existsSync(hostCaBundle) ? { SLIPWAY_BUILD_CA_BUNDLE: hostCaBundle } : {}),
    ...options.env,
  };

  const gatewayPorts = new Map<ProcessName, number>([["gateway", gatewayPort]]);
  const extraNames = (role: Role, count: number) => Array.from({ length: count }, (_, i) => `${role}-${i + 2}` as ProcessName);
  const extraGateways = extraNames("gateway", options.extraGateways ?? 0);
  const extraWorkers = extraNames("worker", options.extraWorkers ?? 0);
  for (const name of extraGateways) gatewayPorts.set(name, await freePort());

  const processes = new Map<ProcessName, ChildProcess>();
  const workerMetricsPorts = new Map<ProcessName, number>();
  const logs: string[] = [];
  const spawnRole = async (name: ProcessName) => {
    const role = roleOf(name);
    const port = gatewayPorts.get(name);
    if (role === "gateway" && port === undefined) throw new Error(`no port for ${name}: start the stack with extraGateways`);
    const own = options.processEnv?.[name] ?? {};
    // Each worker serves its metrics on a port of its own.
    if (role === "worker" && !workerMetricsPorts.has(name)) workerMetricsPorts.set(name, await freePort());
    const roleEnv =
      role === "gateway"
        ? { SLIPWAY_GATEWAY_PORT: String(port), SLIPWAY_NGINX_DIR: join(artifactDir, `nginx-${name}`) }
        : role === "worker"
          ? { SLIPWAY_METRICS_PORT: String(workerMetricsPorts.get(name)) }
          : {};
    const processEnv = { ...env, ...roleEnv, ...own };
    const child = spawn(process.execPath, [slipwayBin, role], { env: processEnv, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      logs.push(chunk.toString());
    };
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    processes.set(name, child);
    if (role === "app") await waitForHttp(`http://127.0.0.1:${appPort}/healthz`, 30_000, child, () => output);
    if (role === "gateway") await waitForHttp(`http://127.0.0.1:${port}/healthz`, 60_000, child, () => output);
    if (role === "worker") {
      const deadline = Date.now() + 30_000;
      while (!output.includes("worker consuming builds")) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`worker did not start:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return child;
  };

  const kill = async (name: ProcessName, signal: NodeJS.Signals = "SIGTERM") => {
    const child = processes.get(name);
    // A process killed by a signal has no exit code, only a signal code.
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    await exited;
  };

  const webhookUrl = `http://127.0.0.1:${appPort}/api/github/webhooks`;
  const handled = (deliveryId: string, timeoutMs = 60_000): Promise<string> =>
    emulator.waitFor(
      async () => (await db.query<{ status: string }>("select status from webhook_deliveries where id = $1 and status <> 'received'", [deliveryId])).rows[0]?.status,
      { timeoutMs, intervalMs: 25 },
    );
  // The gateway applies the migrations first, so the others start on a ready schema.
  await spawnRole("gateway");
  await spawnRole("app");
  await spawnRole("worker");
  for (const name of [...extraGateways, ...extraWorkers]) await spawnRole(name);

  return {
    emulator,
    db,
    env,
    webhookSecret,
    gatewaySecret,
    appUrl: `http://127.0.0.1:${appPort}`,
    webhookUrl,
    gatewayUrl: `http://127.0.0.1:${gatewayPort}`,
    /** Every gateway's URL, the first gateway's first. */
    gatewayUrls: [...gatewayPorts.values()].map((port) => `http://127.0.0.1:${port}`),
    /** Where a worker serves GET /metrics. */
    workerMetricsUrl: (name: ProcessName = "worker") => `http://127.0.0.1:${workerMetricsPorts.get(name)}/metrics`,
    /** The processes started so far, running or not. */
    processNames: () => [...processes.keys()],
    logs: () => logs.join(""),
    /**
     * Waits until the app's consumers have handled a stored delivery (or given it up): the app
     * answers GitHub once a delivery is stored, before it is handled.
     */
    handled,
    /** Delivers a signed webhook, checks it was stored (202) and waits until it is handled. */
    async deliver(event: string, payload: unknown, options: { deliveryId?: string } = {}): Promise<DeliverWebhookResult> {
      const sent = await deliverWebhook({ url: webhookUrl, event, payload, secret: webhookSecret, ...options });
      if (sent.status !== 202) throw new Error(`the ${event} webhook was answered ${sent.status}: ${sent.body}`);
      await handled(sent.deliveryId);
      return sent;
    },
    spawnRole,
    kill,
    /** Sends a signal without waiting for anything (SIGSTOP and SIGCONT pause and resume). */
    signal: (name: ProcessName, signal: NodeJS.Signals) => processes.get(name)?.kill(signal),
    async stop() {
      for (const role of processes.keys()) await kill(role, "SIGKILL");
      const docker = new Docker();
      const ids = (await db.query<{ id: string }>("select id from deployments")).rows.map((r) => r.id);
      const containers = await docker.listContainers({ all: true, filters: { label: ["slipway.deployment"] } });
      await Promise.all(
        containers
          .filter((c) => ids.includes(c.Labels["slipway.deployment"] ?? ""))
          // v: a runtime's anonymous volumes (artifact, logs, function folder) go with it.
          .map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {})),
      );
      // Its runtime pool's members, idle or assigned (a SIGKILLed gateway leaves them).
      const pooled = await docker.listContainers({ all: true, filters: { label: [`slipway.pool.installation=${installationOf(gatewaySecret)}`] } });
      await Promise.all(pooled.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {})));
      // This stack's build caches, so test runs do not pile up volumes.
      const functionIds = new Set((await db.query<{ id: string }>("select id from functions")).rows.map((r) => r.id));
      const { Volumes: volumes } = await docker.listVolumes({ filters: { label: ["slipway.role=build-cache"] } });
      await Promise.all(
        (volumes ?? [])
          .filter((v) => functionIds.has(v.Labels?.["slipway.function"] ?? ""))
          .map((v) => docker.getVolume(v.Name).remove({ force: true }).catch(() => {})),
      );
      await emulator.stop();
      await rm(artifactDir, { recursive: true, force: true });
      await testDatabase.drop();
    },
  };
}

export type SlipwayStack = Awaited<ReturnType<typeof startSlipwayStack>>;
