// Owns Slipway's configuration: every setting comes from the environment and is checked
// here, once, so a bad value stops start-up with a message that names the variable.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { decodeMasterKey } from "../variables/master-keyring.js";

export type Role = "app" | "worker" | "gateway" | "all";

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const url = z.url();

const baseSchema = z.object({
  DATABASE_URL: url.default("postgres://slipway:slipway@127.0.0.1:5432/slipway"),
  REDIS_URL: url.default("redis://127.0.0.1:6379"),
  SLIPWAY_QUEUE_PREFIX: z.string().min(1).default("slipway"),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  SLIPWAY_ARTIFACT_DIR: z.string().min(1).default(".slipway/artifacts"),
  SLIPWAY_GATEWAY_SECRET: z.string().min(16, "must be at least 16 characters"),
  SLIPWAY_GATEWAY_URL: url.default("http://127.0.0.1:3002"),
  SLIPWAY_PUBLIC_URL: url.optional(),
  // Where users reach the app's REST API (check-run details links, PR comment log links).
  SLIPWAY_APP_URL: url.optional(),
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
  // nginx: public function URLs are served by an nginx process the gateway programs (see
  // src/gateway/nginx-data-plane.ts); node: the gateway's own proxy serves every request.
  SLIPWAY_DATA_PLANE: z.enum(["node", "nginx"]).default("nginx"),
  SLIPWAY_NGINX_BINARY: z.string().min(1).default("nginx"),
  // nginx's njs module, which looks each call's route up (Debian: libnginx-mod-http-js); auto: the usual module folders.
  SLIPWAY_NGINX_JS_MODULE: z.string().min(1).default("auto"),
  SLIPWAY_NGINX_WORKERS: z.string().regex(/^(auto|[1-9][0-9]*)$/, "must be auto or a number").default("auto"),
  // Where the gateway writes nginx's configuration and route files (they hold runtime secrets; mode 0700). Default: a folder under the OS's temporary directory, named after the port.
  SLIPWAY_NGINX_DIR: z.string().min(1).optional(),
  // How long a switch waits for every other live gateway to serve it before it answers, and
  // how often each gateway re-reads every route anyway (see src/gateway/route-sync.ts).
  SLIPWAY_ROUTE_CONFIRM_SECONDS: positiveInt.default(30),
  SLIPWAY_ROUTE_RECONCILE_SECONDS: positiveInt.default(30),
  SLIPWAY_ACTIVATION_GRACE_SECONDS: z.coerce.number().int().min(0).default(300),
  SLIPWAY_PARKED_RUNTIMES_PER_FUNCTION: z.coerce.number().int().min(0).default(3),
  SLIPWAY_HEALTH_TIMEOUT_SECONDS: positiveInt.default(30),
  SLIPWAY_BUILD_MEMORY_MB: positiveInt.default(2048),
  SLIPWAY_BUILD_CPUS: z.coerce.number().positive().default(1),
  SLIPWAY_BUILD_PIDS: positiveInt.default(512),
  SLIPWAY_BUILD_TIMEOUT_SECONDS: positiveInt.default(900),
  SLIPWAY_BUILD_CA_BUNDLE: z.string().optional(),
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
});

export type BaseConfig = z.infer<typeof baseSchema>;
export type GithubConfig = z.infer<typeof githubSchema>;
export type Config = BaseConfig & { github: GithubConfig | undefined; publicUrl: string; appUrl: string };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Slipway cannot start; fix these settings:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

function describeIssues(error: z.ZodError): string[] {
  // Only the variable name and the rule are reported, never the value: it may be a secret.
  return error.issues.map((issue) => {
    const name = issue.path.join(".");
    if (issue.code === "invalid_type" && issue.input === undefined) return `${name} is required but not set`;
    return `${name}: ${issue.message}`;
  });
}

function readPrivateKey(env: NodeJS.ProcessEnv): string | undefined {
  if (env.PRIVATE_KEY) {
    const raw = env.PRIVATE_KEY.trim();
    // Like Probot, accept a base64-encoded key for platforms without multi-line variables.
    if (raw.includes("-----BEGIN")) return raw.replace(/\\n/g, "\n");
    return Buffer.from(raw, "base64").toString("utf8");
  }
  if (env.PRIVATE_KEY_PATH) {
    try {
      return readFileSync(env.PRIVATE_KEY_PATH, "utf8");
    } catch {
      throw new ConfigError([`PRIVATE_KEY_PATH points to a file that cannot be read`]);
    }
  }
  return undefined;
}

export function roleNeedsGithub(role: Role): boolean {
  return role !== "gateway";
}

export function loadConfig(role: Role, env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const base = baseSchema.safeParse(env);
  if (!base.success) problems.push(...describeIssues(base.error));

  let github: GithubConfig | undefined;
  if (roleNeedsGithub(role)) {
    const parsed = githubSchema.safeParse({ ...env, PRIVATE_KEY: readPrivateKey(env) });
    if (!parsed.success) {
      problems.push(
        ...describeIssues(parsed.error).map((p) =>
          p.startsWith("PRIVATE_KEY ") ? p.replace("PRIVATE_KEY ", "PRIVATE_KEY (or PRIVATE_KEY_PATH) ") : p,
        ),
      );
    } else {
      github = parsed.data;
      if (!github.PRIVATE_KEY.includes("PRIVATE KEY-----")) problems.push("PRIVATE_KEY is not a PEM private key");
    }
  }
  if (problems.length > 0 || !base.success) throw new ConfigError(problems);

  const publicUrl = (base.data.SLIPWAY_PUBLIC_URL ?? base.data.SLIPWAY_GATEWAY_URL).replace(/\/+$/, "");
  const appUrl = (base.data.SLIPWAY_APP_URL ?? `http://127.0.0.1:${base.data.SLIPWAY_APP_PORT}`).replace(/\/+$/, "");
  return { ...base.data, github, publicUrl, appUrl };
}
