// Owns Slipway's configuration: every setting comes from the environment and is checked
// here, once, so a bad value stops start-up with a message that names the variable.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { z } from "zod";
import { githubUrls } from "../setup/github-urls.js";
import { decodeMasterKey } from "../variables/master-keyring.js";

export type Role = "app" | "worker" | "gateway" | "all";

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const url = z.url();
const nodeCount = (fallback: string) =>
  z
    .string()
    .trim()
    .regex(/^(all|[1-9]\d{0,3})$/, 'must be "all" or a number of gateway nodes from 1')
    .default(fallback)
    .transform((value): number | "all" => (value === "all" ? "all" : Number(value)));
// A Linux network interface name: at most 15 characters, no '/', ':' or space.
const bridgeName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$/, "must be a network interface name: 1-15 letters, digits, '.', '_' or '-' (Linux allows no longer)");

const baseSchema = z.object({
  DATABASE_URL: url.default("postgres://slipway:slipway@127.0.0.1:5432/slipway"),
  REDIS_URL: url.default("redis://127.0.0.1:6379"),
  SLIPWAY_QUEUE_PREFIX: z.string().min(1).default("slipway"),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  // auto: readable lines on a terminal, JSON (one object a line) anywhere else.
  SLIPWAY_LOG_FORMAT: z.enum(["auto", "json", "pretty"]).default("auto"),
  SLIPWAY_ARTIFACT_DIR: z.string().min(1).default(".slipway/artifacts"),
  // Where build outputs and uploads are kept: local (SLIPWAY_ARTIFACT_DIR, one machine or a
  // shared filesystem) or s3 (any S3-compatible object storage, shared by every node).
  SLIPWAY_ARTIFACT_STORE: z.enum(["local", "s3"]).default("local"),
  // Unset: AWS S3 at SLIPWAY_S3_REGION. Self-hosted servers (MinIO, Ceph, versitygw): their URL.
  SLIPWAY_S3_ENDPOINT: url.regex(/^https?:\/\/[^@/]+(\/.*)?$/, "must be an http:// or https:// URL without a user or password in it").optional(),
  SLIPWAY_S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name: 3 to 63 lowercase letters, digits, '.' and '-'").optional(),
  // Keys go under this path in the bucket, so one bucket can hold several installations.
  SLIPWAY_S3_PREFIX: z
    .string()
    .regex(/^([A-Za-z0-9._-]+\/)*[A-Za-z0-9._-]*$/, "must be a path such as slipway/ or teams/slipway: letters, digits, '.', '-', '_' and '/' between them")
    .refine((value) => !value.split("/").some((part) => part === "." || part === ".."), "must not contain '.' or '..' as a path segment")
    .default("")
    .transform((value) => (value === "" || value.endsWith("/") ? value : `${value}/`)),
  SLIPWAY_S3_REGION: z.string().regex(/^[a-z0-9-]+$/, "must be a region such as us-east-1").default("us-east-1"),
  // Both or neither; neither: the AWS SDK's own chain (AWS_* variables, a profile, an instance role).
  SLIPWAY_S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  SLIPWAY_S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  // Creates the bucket at start when it is missing (handy for a self-hosted server; on AWS, create it yourself).
  SLIPWAY_S3_CREATE_BUCKET: z.enum(["true", "false"]).default("false"),
  // auto: path-style (http://host/bucket/key) when SLIPWAY_S3_ENDPOINT is set, as self-hosted servers need.
  SLIPWAY_S3_FORCE_PATH_STYLE: z.enum(["auto", "true", "false"]).default("auto"),
  // Each node's read-through cache of the store's blobs (only with SLIPWAY_ARTIFACT_STORE=s3;
  // 0 MB: none, every start downloads). Least recently used blobs go first.
  SLIPWAY_ARTIFACT_CACHE_DIR: z.string().min(1).default(".slipway/artifact-cache"),
  SLIPWAY_ARTIFACT_CACHE_MB: z.coerce.number().int().min(0).default(2048),
  SLIPWAY_GATEWAY_SECRET: z.string().min(16, "must be at least 16 characters"),
  SLIPWAY_GATEWAY_URL: url.default("http://127.0.0.1:3002"),
  SLIPWAY_PUBLIC_URL: url.optional(),
  // Where users reach the app's REST API (check-run details links, PR comment log links).
  SLIPWAY_APP_URL: url.optional(),
  // A webhook relay channel (smee.io or a self-hosted smee): GitHub posts webhooks there, and
  // the app role forwards them to itself, for a machine GitHub cannot reach.
  WEBHOOK_PROXY_URL: url.optional(),
  // GitHub's web address, where set-up mode registers the app (GitHub Enterprise Server: https://<host>).
  GITHUB_URL: url.optional(),
  SLIPWAY_APP_PORT: port.default(3000),
  SLIPWAY_GATEWAY_PORT: port.default(3002),
  // GET /metrics (Prometheus): the app and the gateway serve it on their ports, a worker
  // role on its own on this port (0: not at all). With a token, only Bearer <token> is served.
  SLIPWAY_METRICS_PORT: port.default(3003),
  SLIPWAY_METRICS_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  SLIPWAY_HOST: z.string().default("0.0.0.0"),
  SLIPWAY_RUNTIME_HOST: z.string().default("127.0.0.1"),
  // The host ports runtime containers are published on (from-to; empty: any port Docker
  // picks). nginx keeps a pool of kept-alive connections per port in this range, so a
  // fixed range is what lets it reuse connections to runtimes it learns of at run time.
  SLIPWAY_RUNTIME_PORTS: z
    .string()
    .regex(/^(\d{1,5}-\d{1,5})?$/, "must be a range such as 29000-29999, or empty")
    .default("29000-29999")
    .transform((value, ctx) => {
      if (!value) return null;
      const [from, to] = value.split("-").map(Number) as [number, number];
      if (from >= 1024 && from <= to && to <= 65535 && to - from < 10_000) return { from, to };
      ctx.addIssue({ code: "custom", message: "must run upwards within 1024-65535, at most 10,000 ports" });
      return z.NEVER;
    }),
  // The Linux bridge names of the build and runtime sandbox networks, which the host firewall
  // (scripts/sandbox-firewall.sh) is keyed on. Interface names are global to a host, so a
  // second Docker engine on one host (a second node) needs its own pair.
  SLIPWAY_BUILD_BRIDGE: bridgeName.default("slipway-build"),
  SLIPWAY_RUNTIME_BRIDGE: bridgeName.default("slipway-runtime"),
  // nginx: public function URLs are served by an nginx process the gateway programs (see
  // src/gateway/nginx-data-plane.ts); node: the gateway's own proxy serves every request.
  SLIPWAY_DATA_PLANE: z.enum(["node", "nginx"]).default("nginx"),
  SLIPWAY_NGINX_BINARY: z.string().min(1).default("nginx"),
  // nginx's njs module, which looks each call's route up (Debian: libnginx-mod-http-js); auto: the usual module folders.
  SLIPWAY_NGINX_JS_MODULE: z.string().min(1).default("auto"),
  SLIPWAY_NGINX_WORKERS: z.string().regex(/^(auto|[1-9][0-9]*)$/, "must be auto or a number").default("auto"),
  // Where the gateway writes nginx's configuration and route files (they hold runtime secrets; mode 0700). Default: a folder under the OS's temporary directory, named after the port.
  SLIPWAY_NGINX_DIR: z.string().min(1).optional(),
  // How long a switch waits for every live gateway node to serve it before it answers (naming
  // those that lag), and how often each node reconciles its routes with Postgres even
  // without a hint (see src/gateway/route-sync.ts).
  SLIPWAY_ROUTE_CONFIRM_SECONDS: positiveInt.default(30),
  SLIPWAY_ROUTE_RECONCILE_SECONDS: positiveInt.default(5),
  // This gateway node's name in gateway_nodes and in a switch's answer (default: host name and
  // SLIPWAY_GATEWAY_PORT; keep it stable across restarts), and the URL it is reached at.
  SLIPWAY_GATEWAY_NODE_ID: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/, "must be 1-100 letters, digits, '.', '_', ':' or '-'").optional(),
  SLIPWAY_GATEWAY_NODE_URL: url.optional(),
  // How often a node renews its heartbeat, and how old a heartbeat may be for the node to count as live.
  SLIPWAY_GATEWAY_HEARTBEAT_SECONDS: positiveInt.default(2),
  SLIPWAY_GATEWAY_NODE_TTL_SECONDS: positiveInt.default(10),
  // How many live gateway nodes run each route's container, chosen by rendezvous hashing of
  // the route and the node ids (src/gateway/rendezvous-nodes.ts); every other node forwards
  // the route's calls to one that runs it. "all" or a count; production on every node by
  // default, a preview (pr-<n>) or a /d/<deployment id>/ URL on one.
  SLIPWAY_PRODUCTION_NODES: nodeCount("all"),
  SLIPWAY_PREVIEW_NODES: nodeCount("1"),
  // How long a node must be silent before the queued executions it was running end failed
  // (not run again: only that node could tell whether the function saw them).
  SLIPWAY_GATEWAY_NODE_LOST_SECONDS: positiveInt.default(60),
  // How often each gateway checks the cron schedules in Redis against Postgres and repairs them.
  SLIPWAY_SCHEDULE_RECONCILE_SECONDS: positiveInt.default(30),
  SLIPWAY_ACTIVATION_GRACE_SECONDS: z.coerce.number().int().min(0).default(300),
  SLIPWAY_PARKED_RUNTIMES_PER_FUNCTION: z.coerce.number().int().min(0).default(3),
  // The runtime pool (src/gateway/runtime-pool.ts): started containers per runtime that wait
  // for code, so a cold start skips create and start. A number for every pooled runtime, or
  // name=count pairs (node-20=2,python-3.13=1; a runtime not named gets none); 0: no pool.
  SLIPWAY_RUNTIME_POOL_SIZE: z
    .string()
    .regex(/^(\d{1,2}|[a-z0-9][a-z0-9.-]{0,39}=\d{1,2}(,[a-z0-9][a-z0-9.-]{0,39}=\d{1,2})*)$/, "must be a count (0-99) or name=count pairs such as node-20=2,python-3.13=1")
    .default("1")
    .transform((value) => {
      if (/^\d+$/.test(value)) return { all: Number(value), byRuntime: null };
      return { all: 0, byRuntime: Object.fromEntries(value.split(",").map((pair) => [pair.split("=")[0]!, Number(pair.split("=")[1])])) as Record<string, number> };
    }),
  // The most the pool's idle members may hold in memory limits (each SLIPWAY_RUNTIME_MEMORY_MB).
  SLIPWAY_RUNTIME_POOL_MEMORY_MB: z.coerce.number().int().min(0).default(1024),
  // A member not taken within this long retires, and is replaced at that runtime's next cold start (0: never).
  SLIPWAY_RUNTIME_POOL_IDLE_SECONDS: z.coerce.number().int().min(0).default(3600),
  SLIPWAY_HEALTH_TIMEOUT_SECONDS: positiveInt.default(30),
  SLIPWAY_BUILD_MEMORY_MB: positiveInt.default(2048),
  SLIPWAY_BUILD_CPUS: z.coerce.number().positive().default(1),
  SLIPWAY_BUILD_PIDS: positiveInt.default(512),
  SLIPWAY_BUILD_TIMEOUT_SECONDS: positiveInt.default(900),
  // What one build may hold on disk: its container's writable layer plus its cache volume.
  SLIPWAY_BUILD_DISK_MB: positiveInt.default(4096),
  SLIPWAY_BUILD_REUSE_DEPENDENCIES: z.enum(["true", "false"]).default("true"),
  SLIPWAY_BUILD_AHEAD_SECONDS: z.coerce.number().int().min(0).default(600),
  SLIPWAY_BUILD_CA_BUNDLE: z.string().optional(),
  // An HTTP(S) proxy builds reach the package registries through (HTTPS_PROXY and the like in
  // the build); scripts/sandbox-firewall.sh lets builds reach its address.
  SLIPWAY_BUILD_PROXY: z.url().regex(/^https?:\/\//, "must be an http:// or https:// URL").optional(),
  // The most of one build's output streamed live (Redis); past it the live log says it was cut.
  SLIPWAY_BUILD_LOG_MAX_MB: positiveInt.default(16),
  SLIPWAY_MAX_ARTIFACT_MB: positiveInt.default(512),
  // The sum of the files' sizes once a build output or an upload is unpacked, counted as it streams.
  SLIPWAY_MAX_UNPACKED_MB: positiveInt.default(1024),
  SLIPWAY_MAX_UPLOAD_MB: positiveInt.default(100),
  SLIPWAY_WORKER_CONCURRENCY: positiveInt.default(2),
  SLIPWAY_WORKER_LOCK_SECONDS: positiveInt.default(30),
  SLIPWAY_WATCHDOG_INTERVAL_SECONDS: positiveInt.default(30),
  // A webhook whose handling failed or was cut short is tried again after this long, then
  // with doubling delays, up to SLIPWAY_WEBHOOK_MAX_ATTEMPTS tries in all.
  SLIPWAY_WEBHOOK_RETRY_SECONDS: positiveInt.default(60),
  // Retention: the newest N builds per function (and every aliased one) are kept, 0 keeps all;
  // a function's build cache goes after N days without a build, 0 keeps them.
  SLIPWAY_KEEP_DEPLOYMENTS: z.coerce.number().int().min(0).default(20),
  SLIPWAY_BUILD_CACHE_TTL_DAYS: z.coerce.number().int().min(0).default(14),
  SLIPWAY_RETENTION_INTERVAL_SECONDS: positiveInt.default(3600),
  SLIPWAY_WEBHOOK_MAX_ATTEMPTS: positiveInt.default(6),
  // Time between two GitHub writes of one installation, per process; GitHub asks for a second.
  SLIPWAY_GITHUB_WRITE_INTERVAL_MS: z.coerce.number().int().min(0).default(1000),
  // Stored webhook deliveries handled side by side by one app replica.
  SLIPWAY_WEBHOOK_CONCURRENCY: positiveInt.default(8),
  SLIPWAY_RUNTIME_MEMORY_MB: positiveInt.default(512),
  SLIPWAY_RUNTIME_CPUS: z.coerce.number().positive().default(1),
  SLIPWAY_EXECUTION_TIMEOUT_SECONDS: positiveInt.default(15),
  // The largest request body a function call may carry; a larger one is answered 413.
  SLIPWAY_MAX_REQUEST_MB: positiveInt.default(20),
  // AES-256-GCM key for variables at rest (32 bytes, hex or base64); the previous one still decrypts during a rotation.
  SLIPWAY_MASTER_KEY: z.string().optional().refine((v) => v === undefined || decodeMasterKey(v) !== null, "must be 32 bytes, as 64 hex characters or base64"),
  SLIPWAY_MASTER_KEY_PREVIOUS: z.string().optional().refine((v) => v === undefined || decodeMasterKey(v) !== null, "must be 32 bytes, as 64 hex characters or base64"),
  SLIPWAY_EXECUTION_CONCURRENCY: positiveInt.default(20),
  // The project id Appwrite SDKs send as X-Appwrite-Project to the Appwrite-compatible
  // executions API (<gateway>/appwrite/v1); unset, that API is off.
  SLIPWAY_APPWRITE_PROJECT_ID: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,35}$/, "must be an Appwrite project id: up to 36 letters, digits, '.', '-' and '_'").optional(),
});

// GitHub App credentials keep Probot's variable names, so the .env written by Probot's
// manifest flow works as it is.
const githubSchema = z.object({
  APP_ID: positiveInt,
  PRIVATE_KEY: z.string().min(1, "is empty"),
  WEBHOOK_SECRET: z.string().min(1, "is empty"),
  GITHUB_API_URL: url.default("https://api.github.com"),
  // The GitHub App's client id and secret: the console's sign-in with GitHub. Unset, the
  // console takes API tokens only.
  GITHUB_CLIENT_ID: z.string().min(1, "is empty").optional(),
  GITHUB_CLIENT_SECRET: z.string().min(1, "is empty").optional(),
});

export type BaseConfig = z.infer<typeof baseSchema>;
export type GithubConfig = z.infer<typeof githubSchema>;
export type Config = BaseConfig & { github: GithubConfig | undefined; publicUrl: string; appUrl: string; gatewayNodeId: string; gatewayNodeUrl: string };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Slipway cannot start; fix these settings:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

// What a setting is for, added to a problem with it so the reader knows where the value comes from.
const settingHints: Record<string, string> = {
  APP_ID: "the GitHub App's id, from its settings page",
  PRIVATE_KEY: "the GitHub App's private key: PRIVATE_KEY_PATH=/path/to/key.pem, or the PEM itself in PRIVATE_KEY",
  WEBHOOK_SECRET: "the webhook secret set on the GitHub App's settings page",
  GITHUB_API_URL: "https://api.github.com, or https://<host>/api/v3 for GitHub Enterprise Server",
  GITHUB_URL: "https://github.com, or https://<host> for GitHub Enterprise Server",
  WEBHOOK_PROXY_URL: "a channel URL such as https://smee.io/<channel>",
  GITHUB_CLIENT_ID: "the GitHub App's client id, from its settings page (for the console's sign-in with GitHub)",
  GITHUB_CLIENT_SECRET: "a client secret generated on the GitHub App's settings page (for the console's sign-in with GitHub)",
  SLIPWAY_GATEWAY_SECRET: "any random string, e.g. `openssl rand -hex 24`; scripts/start.sh makes one",
  DATABASE_URL: "e.g. postgres://slipway:slipway@127.0.0.1:5432/slipway",
  REDIS_URL: "e.g. redis://127.0.0.1:6379",
  SLIPWAY_MASTER_KEY: "`openssl rand -hex 32` makes one",
  SLIPWAY_MASTER_KEY_PREVIOUS: "the key used before the rotation",
};

type Issue = z.core.$ZodIssue & { input?: unknown; origin?: string; minimum?: unknown; maximum?: unknown; inclusive?: boolean; expected?: string; format?: string; values?: unknown[] };

function ruleOf(issue: Issue, raw: string | undefined): string {
  if (raw === undefined && issue.code === "invalid_type") return "is required but not set";
  if (raw !== undefined && raw.trim() === "" && (issue.code === "invalid_type" || issue.code === "too_small" || issue.code === "invalid_format")) return "is empty";
  switch (issue.code) {
    case "too_small":
      if (issue.origin === "number") return `must be a number ${issue.inclusive ? "of at least" : "greater than"} ${String(issue.minimum)}`;
      if (issue.origin === "string") return `must be at least ${String(issue.minimum)} characters`;
      break;
    case "too_big":
      if (issue.origin === "number") return `must be a number of at most ${String(issue.maximum)}`;
      break;
    case "invalid_type":
      if (issue.expected === "number") return "must be a number";
      if (issue.expected === "int") return "must be a whole number";
      break;
    case "invalid_format":
      if (issue.format === "url") return "must be a URL";
      break;
    case "invalid_value":
      if (issue.values) return `must be one of ${issue.values.map(String).join(", ")}`;
      break;
  }
  // Slipway's own messages ("must be a range such as 29000-29999, or empty") already read as rules.
  return issue.message.startsWith("must") || issue.message.startsWith("is ") ? issue.message : `is not valid (${issue.message})`;
}

function describeIssues(error: z.ZodError, env: NodeJS.ProcessEnv): string[] {
  // Only the variable name and the rule are reported, never the value: it may be a secret.
  return error.issues.map((issue) => {
    const name = issue.path.join(".");
    const hint = settingHints[name];
    return `${name} ${ruleOf(issue as Issue, env[name])}${hint ? ` (${hint})` : ""}`;
  });
}

function readPrivateKey(env: NodeJS.ProcessEnv): { key?: string; problem?: string } {
  if (env.PRIVATE_KEY) {
    const raw = env.PRIVATE_KEY.trim();
    // Like Probot, accept a base64-encoded key for platforms without multi-line variables.
    if (raw.includes("-----BEGIN")) return { key: raw.replace(/\\n/g, "\n") };
    return { key: Buffer.from(raw, "base64").toString("utf8") };
  }
  if (env.PRIVATE_KEY_PATH) {
    try {
      return { key: readFileSync(env.PRIVATE_KEY_PATH, "utf8") };
    } catch (error) {
      const code = (error as { code?: string }).code;
      const why = code === "ENOENT" ? "there is no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a folder" : "it cannot be read";
      // The path is not a secret; the key is, and it is never read into a message.
      return { problem: `PRIVATE_KEY_PATH=${env.PRIVATE_KEY_PATH}: ${why} (the private key downloaded from the GitHub App's settings page)` };
    }
  }
  return {};
}

// S3's CopyObject, which commits an upload, takes at most 5 GiB.
const s3LargestCopyMb = 5 * 1024;

/** Settings of the artifact store that only make sense together. */
function artifactStoreProblems(config: BaseConfig): string[] {
  const problems: string[] = [];
  const keyId = config.SLIPWAY_S3_ACCESS_KEY_ID !== undefined;
  const secret = config.SLIPWAY_S3_SECRET_ACCESS_KEY !== undefined;
  if (config.SLIPWAY_ARTIFACT_STORE === "s3") {
    if (!config.SLIPWAY_S3_BUCKET) problems.push("SLIPWAY_S3_BUCKET is required when SLIPWAY_ARTIFACT_STORE=s3 (the bucket that holds the artifacts; create it first)");
    if (keyId !== secret) problems.push(`${keyId ? "SLIPWAY_S3_SECRET_ACCESS_KEY" : "SLIPWAY_S3_ACCESS_KEY_ID"} is required when ${keyId ? "SLIPWAY_S3_ACCESS_KEY_ID" : "SLIPWAY_S3_SECRET_ACCESS_KEY"} is set (set both, or neither to use the AWS SDK's default credentials)`);
    for (const name of ["SLIPWAY_MAX_ARTIFACT_MB", "SLIPWAY_MAX_UPLOAD_MB"] as const) {
      if (config[name] > s3LargestCopyMb) problems.push(`${name} must be at most ${s3LargestCopyMb} with SLIPWAY_ARTIFACT_STORE=s3 (S3 copies at most 5 GiB at once)`);
    }
  } else if (config.SLIPWAY_S3_BUCKET) {
    // A bucket says S3 was meant; artifacts silently kept on one machine's disk would not be.
    problems.push("SLIPWAY_S3_BUCKET is only read when SLIPWAY_ARTIFACT_STORE=s3; set SLIPWAY_ARTIFACT_STORE=s3, or remove SLIPWAY_S3_BUCKET to keep artifacts in SLIPWAY_ARTIFACT_DIR");
  }
  return problems;
}

// GitHub Enterprise Server's API lives under /api/v3 of GITHUB_URL, so that alone is enough.
function defaultApiUrl(env: NodeJS.ProcessEnv): string | undefined {
  if (env.GITHUB_API_URL?.trim() || !env.GITHUB_URL?.trim()) return env.GITHUB_API_URL;
  try {
    return githubUrls(env).apiUrl;
  } catch {
    return env.GITHUB_API_URL;
  }
}

export function roleNeedsGithub(role: Role): boolean {
  return role !== "gateway";
}

export function loadConfig(role: Role, env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const base = baseSchema.safeParse(env);
  if (!base.success) problems.push(...describeIssues(base.error, env));

  let github: GithubConfig | undefined;
  if (roleNeedsGithub(role)) {
    const privateKey = readPrivateKey(env);
    // An unreadable key file is one problem among the others, not the only one reported.
    const schema = privateKey.problem ? githubSchema.omit({ PRIVATE_KEY: true }) : githubSchema;
    const parsed = schema.safeParse({ ...env, PRIVATE_KEY: privateKey.key, GITHUB_API_URL: defaultApiUrl(env) });
    if (privateKey.problem) problems.push(privateKey.problem);
    if (!parsed.success) {
      problems.push(
        ...describeIssues(parsed.error, env).map((p) =>
          p.startsWith("PRIVATE_KEY ") ? p.replace("PRIVATE_KEY ", "PRIVATE_KEY (or PRIVATE_KEY_PATH) ") : p,
        ),
      );
    } else if (!privateKey.problem) {
      github = parsed.data as GithubConfig;
      if (!github.PRIVATE_KEY.includes("PRIVATE KEY-----")) problems.push("PRIVATE_KEY is not a PEM private key (it should begin with -----BEGIN RSA PRIVATE KEY-----)");
      if (!github.GITHUB_CLIENT_ID !== !github.GITHUB_CLIENT_SECRET) {
        problems.push("GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET go together: set both (from the GitHub App's settings page) for the console's sign-in with GitHub, or neither");
      }
    }
  }
  if (base.success) problems.push(...artifactStoreProblems(base.data));
  if (base.success && base.data.SLIPWAY_GATEWAY_NODE_TTL_SECONDS <= base.data.SLIPWAY_GATEWAY_HEARTBEAT_SECONDS) {
    problems.push(
      `SLIPWAY_GATEWAY_NODE_TTL_SECONDS (${base.data.SLIPWAY_GATEWAY_NODE_TTL_SECONDS}) must be longer than SLIPWAY_GATEWAY_HEARTBEAT_SECONDS (${base.data.SLIPWAY_GATEWAY_HEARTBEAT_SECONDS}), or live gateway nodes would count as gone; about three heartbeats is usual`,
    );
  }
  if (base.success && base.data.SLIPWAY_GATEWAY_NODE_LOST_SECONDS < base.data.SLIPWAY_GATEWAY_NODE_TTL_SECONDS) {
    problems.push(
      `SLIPWAY_GATEWAY_NODE_LOST_SECONDS (${base.data.SLIPWAY_GATEWAY_NODE_LOST_SECONDS}) must be at least SLIPWAY_GATEWAY_NODE_TTL_SECONDS (${base.data.SLIPWAY_GATEWAY_NODE_TTL_SECONDS}): a node is lost only after it stopped counting as live`,
    );
  }
  if (base.success && base.data.SLIPWAY_BUILD_BRIDGE === base.data.SLIPWAY_RUNTIME_BRIDGE) {
    problems.push(`SLIPWAY_BUILD_BRIDGE and SLIPWAY_RUNTIME_BRIDGE must differ (both are '${base.data.SLIPWAY_BUILD_BRIDGE}'): each sandbox network has a bridge of its own`);
  }
  if (problems.length > 0 || !base.success) throw new ConfigError(problems);

  const publicUrl = (base.data.SLIPWAY_PUBLIC_URL ?? base.data.SLIPWAY_GATEWAY_URL).replace(/\/+$/, "");
  const appUrl = (base.data.SLIPWAY_APP_URL ?? `http://127.0.0.1:${base.data.SLIPWAY_APP_PORT}`).replace(/\/+$/, "");
  const gatewayNodeId = base.data.SLIPWAY_GATEWAY_NODE_ID ?? `${hostname()}:${base.data.SLIPWAY_GATEWAY_PORT}`;
  const gatewayNodeUrl = (base.data.SLIPWAY_GATEWAY_NODE_URL ?? `http://${hostname()}:${base.data.SLIPWAY_GATEWAY_PORT}`).replace(/\/+$/, "");
  return { ...base.data, github, publicUrl, appUrl, gatewayNodeId, gatewayNodeUrl };
}
