// The `slipway` command line for people and scripts, built on commander so every command
// and subcommand has --help, and usage errors are told apart from failures (exit 2 and 1).
// Everything but `token create` and `variables rotate` goes through the REST API
// (SLIPWAY_API_URL and SLIPWAY_TOKEN, or what `slipway login` saved); the executions API is
// on the gateway, whose address the app gives. `token create` is the operator's bootstrap:
// it writes to the database directly (DATABASE_URL) and prints the new token once.
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { createApiToken, type TokenKind } from "../api/api-tokens.js";
import { slipwayVersion } from "../config/slipway-version.js";
import { unconfirmedNote } from "../gateway/route-sync.js";
import { createDatabase } from "../store/create-database.js";
import { runMigrations } from "../store/run-migrations.js";
import { rotateVariableKeys } from "../variables/rotate-variable-keys.js";
import { describeDatabaseFailure } from "../config/describe-database-failure.js";
import { createApiClient, type ApiClient } from "./api-client.js";
import { CliError, exitCodes } from "./cli-error.js";
import { formatTable, processOutput, type Output } from "./cli-output.js";
import { loadCliSettings, removeLogin, saveLogin } from "./cli-settings.js";
import { completionScript } from "./completion-script.js";
import { deployDirectory } from "./deploy-directory.js";
import { buildFailureLine, followDeployment } from "./follow-deployment.js";
import { readTokenInput } from "./read-token-input.js";
import { fullFunctionName } from "./resolve-function.js";

/** The roles main.ts starts; listed here so `slipway --help` shows them. */
export const roleCommands = ["app", "worker", "gateway", "all"] as const;

const defaultDatabaseUrl = "postgres://slipway:slipway@127.0.0.1:5432/slipway";
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function positiveInteger(max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`must be a whole number from 1 to ${max}`);
    return n;
  };
}

function headerPair(value: string, previous: Record<string, string> = {}) {
  const at = value.indexOf(":");
  if (at <= 0) throw new InvalidArgumentError("must be Name: value");
  return { ...previous, [value.slice(0, at).trim().toLowerCase()]: value.slice(at + 1).trim() };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function withDatabase<T>(work: (db: ReturnType<typeof createDatabase>) => Promise<T>): Promise<T> {
  const url = process.env.DATABASE_URL ?? defaultDatabaseUrl;
  const db = createDatabase(url);
  try {
    return await work(db);
  } catch (error) {
    const described = describeDatabaseFailure(error, url);
    if (described) throw new CliError(described);
    throw error;
  } finally {
    await db.end().catch(() => undefined);
  }
}

type FunctionRow = Awaited<ReturnType<ApiClient["functions"]>>[number];
type ExecutionRecord = {
  id: string;
  functionId: string;
  trigger: string;
  status: string;
  responseStatusCode: number | null;
  responseBody: string | null;
  logs: string | null;
  errors: string | null;
  durationMs: number | null;
  createdAt: string;
  scheduledAt: string | null;
  requestMethod: string;
  requestPath: string;
};

function productionOf(fn: FunctionRow): string {
  const production = fn.aliases.find((a) => a.alias === "production");
  return production ? `v${production.version}${production.pinned ? " (pinned)" : ""}` : "–";
}

function describeExecution(execution: ExecutionRecord, fn: FunctionRow | undefined): string {
  const lines = [
    `execution ${execution.id}: ${execution.status}${execution.responseStatusCode !== null ? `, HTTP ${execution.responseStatusCode}` : ""}${execution.durationMs !== null ? ` in ${Math.round(execution.durationMs)} ms` : ""}`,
    `function ${fn ? fullFunctionName(fn) : execution.functionId}, trigger ${execution.trigger}, ${execution.requestMethod} ${execution.requestPath}, created ${execution.createdAt}${execution.scheduledAt ? `, scheduled for ${execution.scheduledAt}` : ""}`,
  ];
  if (execution.logs) lines.push("--- logs ---", execution.logs.trimEnd());
  if (execution.errors) lines.push("--- errors ---", execution.errors.trimEnd());
  return lines.join("\n");
}

const finishedBadly = new Set(["failed", "timed_out"]);

/** Builds the command tree; `exit` receives each action's exit status. */
export function createProgram(output: Output, env: NodeJS.ProcessEnv, exit: (code: number) => void): Command {
  const program = new Command("slipway");
  let client: ApiClient | undefined;
  const api = async () => (client ??= createApiClient(await loadCliSettings(env)));
  const json = (command: Command) => Boolean(command.optsWithGlobals().json);
  /** Prints the value as JSON under --json, else the text; progress never goes to stdout under --json. */
  const print = (command: Command, value: unknown, text: string) => output.out(`${json(command) ? JSON.stringify(value, null, 2) : text}\n`);

  program
    .description("GitHub-driven deployments for serverless functions: the command line, and the server's roles")
    .version(`slipway ${slipwayVersion()}`, "-V, --version", "print the version")
    .option("--json", "print the result as JSON on stdout (progress goes to stderr)")
    .helpOption("-h, --help", "show help for a command")
    .addHelpCommand("help [command]", "show help for a command")
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showHelpAfterError("(add --help for usage)")
    .exitOverride()
    .configureOutput({ writeOut: output.out, writeErr: output.err, outputError: (text, write) => write(text.replace(/^error: /, "slipway: ")) })
    .addHelpText(
      "after",
      `
Naming a function: its id from slipway.yml (when one repository has it), repo/id,
owner/repo/id, its slug, or its UUID (\`slipway functions ls\` lists them).

The API is reached at SLIPWAY_API_URL with SLIPWAY_TOKEN, or what \`slipway login\` saved in
$XDG_CONFIG_HOME/slipway/config.json (default URL http://127.0.0.1:3000).
Exit status: 0 done, 1 failed (a refused action, a failed build), 2 usage error.`,
    );

  const functions = program.command("functions").description("list functions and what serves them");
  functions
    .command("ls", { isDefault: true })
    .alias("list")
    .description("list functions, with what production serves and their URLs")
    .option("--repo <owner/name>", "only this repository's functions")
    .action(async (options: { repo?: string }, command: Command) => {
      if (options.repo && !/^[^/\s]+\/[^/\s]+$/.test(options.repo)) throw new CliError("--repo is owner/name, e.g. --repo acme/app", exitCodes.usage);
      const client = await api();
      const result = await client.get<{ functions: FunctionRow[] }>(`/v1/functions${options.repo ? `?repo=${encodeURIComponent(options.repo)}` : ""}`);
      const rows = result.functions.map((f) => ({ function: fullFunctionName(f), runtime: f.runtime, production: productionOf(f), url: f.url, uuid: f.id }));
      print(command, result, rows.length === 0 ? "no functions yet: push a slipway.yml to a repository where the app is installed" : formatTable(rows, ["function", "runtime", "production", "url", "uuid"]));
    });

  const deployments = program.command("deployments").description("list deployments (builds)");
  deployments
    .command("ls", { isDefault: true })
    .alias("list")
    .description("list deployments, newest first")
    .option("--function <name>", "only this function's")
    .addOption(new Option("--status <status>", "only deployments in this state").choices(["queued", "building", "ready", "failed", "cancelled"]))
    .option("--limit <n>", "at most this many (1-500, default 50)", positiveInteger(500))
    .action(async (options: { function?: string; status?: string; limit?: number }, command: Command) => {
      const client = await api();
      const params = new URLSearchParams();
      if (options.function) params.set("functionId", (await client.findFunction(options.function)).id);
      if (options.status) params.set("status", options.status);
      if (options.limit) params.set("limit", String(options.limit));
      const result = await client.get<{ deployments: Record<string, unknown>[] }>(`/v1/deployments${params.size ? `?${params}` : ""}`);
      const rows = result.deployments.map((d) => ({
        ...d,
        function: `${String(d.owner)}/${String(d.repo)}/${String(d.functionName)}`,
        version: `v${d.version}`,
        // A pruned build can no longer serve: the retention policy removed it.
        status: d.prunedAt ? `${String(d.status)} (pruned)` : d.status,
        commit: String(d.commitSha ?? "").slice(0, 7) || "upload",
        created: d.createdAt,
      }));
      print(command, result, formatTable(rows, ["id", "function", "version", "status", "commit", "created"]));
    });

  program
    .command("logs")
    .description("print a build's log, following it until the build ends; exit 1 if it failed")
    .argument("<deployment>", "a deployment UUID, or a function (its newest deployment)")
    .option("--no-follow", "print what is logged so far and return")
    .addOption(new Option("-f, --follow", "follow the build (the default)").hideHelp())
    .action(async (name: string, options: { follow?: boolean }, command: Command) => {
      const client = await api();
      let deploymentId = name;
      if (!uuidPattern.test(name)) {
        const fn = await client.findFunction(name);
        const newest = (await client.get<{ deployments: { id: string }[] }>(`/v1/deployments?functionId=${fn.id}&limit=1`)).deployments[0];
        if (!newest) throw new CliError(`${fullFunctionName(fn)} has no deployments yet`);
        deploymentId = newest.id;
      }
      const follow = options.follow !== false;
      const deployment = await followDeployment(client, deploymentId, { follow, json: json(command) }, output);
      if (json(command)) output.out(`${JSON.stringify(deployment, null, 2)}\n`);
      const failure = buildFailureLine(deployment);
      if (failure) {
        output.err(`slipway: ${failure}\n`);
        exit(exitCodes.failed);
      }
    });

  program
    .command("deploy")
    .description("upload a directory as a new version of a function, build it and wait (a preview unless --prod); exit 1 unless it ends ready")
    .argument("<dir>", "the directory: a repository with slipway.yml, or the function's own root")
    .requiredOption("--function <name>", "the function to deploy to")
    .option("--prod", "put it live in production (as a push to the function's branch would)")
    .option("--no-cache", "build without the function's build cache")
    .action(async (dir: string, options: { function: string; prod?: boolean; cache: boolean }, command: Command) => {
      exit(await deployDirectory(await api(), dir, { functionName: options.function, production: Boolean(options.prod), noCache: !options.cache, json: json(command) }, output));
    });

  for (const action of ["rollback", "promote"] as const) {
    program
      .command(action)
      .description(action === "rollback" ? "serve an earlier ready deployment (default: the previous one) and pin production" : "serve a ready deployment (default: the newest), e.g. a preview, and unpin production")
      .argument("<function>", "the function")
      .argument("[target]", action === "rollback" ? "vN, a commit sha or a deployment UUID" : "vN, pr-<n>, a commit sha or a deployment UUID")
      .action(async (name: string, target: string | undefined, _options: unknown, command: Command) => {
        const client = await api();
        const fn = await client.findFunction(name);
        const result = await client.post<{ functionName: string; fromVersion: number | null; toVersion: number; url: string; pinned: boolean; durationMs: number; unconfirmedGateways?: string[] }>(
          `/v1/functions/${fn.id}/${action}`,
          target ? { target } : {},
        );
        print(command, result, `${action === "rollback" ? "Rolled back" : "Promoted"} ${result.functionName}: v${result.fromVersion ?? "–"} → v${result.toVersion} in ${Math.round(result.durationMs)} ms${result.pinned ? " (production pinned)" : ""}\n${result.url}`);
        const unconfirmed = unconfirmedNote(result.unconfirmedGateways);
        if (unconfirmed) output.err(`warning: ${unconfirmed}\n`);
      });
  }

  program
    .command("unpin")
    .description("let pushes go live again after a rollback")
    .argument("<function>", "the function")
    .action(async (name: string, _options: unknown, command: Command) => {
      const client = await api();
      const fn = await client.findFunction(name);
      const result = await client.post<{ functionName: string; version: number }>(`/v1/functions/${fn.id}/unpin`);
      print(command, result, `Unpinned ${result.functionName}; v${result.version} serves until the next push.`);
    });

  program
    .command("redeploy")
    .description("build production's commit again as a new version and follow the build; exit 1 if it fails")
    .argument("<function>", "the function")
    .option("--no-cache", "build without the function's build cache")
    .option("--no-follow", "start the build and return")
    .action(async (name: string, options: { cache: boolean; follow: boolean }, command: Command) => {
      const client = await api();
      const fn = await client.findFunction(name);
      const started = await client.post<{ functionName: string; version: number; deploymentId: string }>(`/v1/functions/${fn.id}/redeploy`, { noCache: !options.cache });
      if (!options.follow) {
        print(command, started, `Redeploying ${started.functionName} as v${started.version} (${started.deploymentId}); follow it with \`slipway logs ${started.deploymentId}\`.`);
        return;
      }
      (json(command) ? output.err : output.out)(`Redeploying ${started.functionName} as v${started.version} (${started.deploymentId})…\n`);
      const deployment = await followDeployment(client, started.deploymentId, { follow: true, json: json(command) }, output);
      if (json(command)) output.out(`${JSON.stringify({ ...started, status: deployment.status, error: deployment.error }, null, 2)}\n`);
      const failure = buildFailureLine(deployment);
      if (failure) {
        output.err(`slipway: ${failure}\n`);
        exit(exitCodes.failed);
      } else if (!json(command)) {
        output.out(`v${deployment.version} is ${deployment.status}.\n`);
      }
    });

  const executions = program.command("executions").description("run a function through the executions API and read its executions (on the gateway)");
  executions
    .command("ls", { isDefault: true })
    .alias("list")
    .description("a function's executions, newest first")
    .argument("<function>", "the function")
    .addOption(new Option("--status <status>", "only executions in this state").choices(["scheduled", "waiting", "processing", "completed", "failed", "timed_out"]))
    .addOption(new Option("--trigger <trigger>", "only executions started this way").choices(["http", "sync", "async", "schedule", "event"]))
    .option("--limit <n>", "at most this many (1-1000, default 100)", positiveInteger(1000))
    .action(async (name: string, options: { status?: string; trigger?: string; limit?: number }, command: Command) => {
      const client = await api();
      const fn = await client.findFunction(name);
      const params = new URLSearchParams();
      if (options.status) params.set("status", options.status);
      if (options.trigger) params.set("trigger", options.trigger);
      if (options.limit) params.set("limit", String(options.limit));
      const result = await client.get<{ executions: ExecutionRecord[] }>(`/v1/functions/${fn.id}/executions${params.size ? `?${params}` : ""}`, { target: "gateway" });
      const rows = result.executions.map((e) => ({ ...e, http: e.responseStatusCode ?? "–", duration: e.durationMs !== null ? `${Math.round(e.durationMs)} ms` : "–", created: e.createdAt }));
      print(command, result, rows.length === 0 ? `no executions of ${fullFunctionName(fn)}` : formatTable(rows, ["id", "status", "trigger", "http", "duration", "created"]));
    });
  executions
    .command("show")
    .description("one execution: status, response, logs and errors")
    .argument("<execution-id>", "the execution's UUID")
    .action(async (id: string, _options: unknown, command: Command) => {
      if (!uuidPattern.test(id)) throw new CliError(`'${id}' is not an execution id (a UUID, as \`slipway executions ls <function>\` lists)`, exitCodes.usage);
      const client = await api();
      const execution = await client.get<ExecutionRecord>(`/v1/executions/${id}`, { target: "gateway" });
      const fn = (await client.functions()).find((f) => f.id === execution.functionId);
      print(command, execution, `${describeExecution(execution, fn)}${execution.responseBody ? `\n--- response body ---\n${execution.responseBody}` : ""}`);
    });
  executions
    .command("run")
    .description("execute a function now (waits for its response), or later with --async or --at; exit 1 if it fails or times out")
    .argument("<function>", "the function")
    .option("--method <method>", "the request's method", "POST")
    .option("--path <path>", "the request's path", "/")
    .option("--header <Name: value>", "a request header (repeatable)", headerPair)
    .option("--body <text>", "the request body; - reads it from standard input")
    .option("--async", "queue it and return at once")
    .option("--at <time>", "run it at this ISO 8601 time, e.g. 2030-01-01T09:00:00Z")
    .action(async (name: string, options: { method: string; path: string; header?: Record<string, string>; body?: string; async?: boolean; at?: string }, command: Command) => {
      const method = options.method.toUpperCase();
      if (!["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"].includes(method)) throw new CliError("--method is GET, POST, PUT, PATCH, DELETE, OPTIONS or HEAD", exitCodes.usage);
      if (!options.path.startsWith("/")) throw new CliError("--path starts with /", exitCodes.usage);
      if (options.at !== undefined && Number.isNaN(Date.parse(options.at))) throw new CliError("--at is an ISO 8601 time with its offset, e.g. 2030-01-01T09:00:00Z", exitCodes.usage);
      const client = await api();
      const fn = await client.findFunction(name);
      const body = options.body === "-" ? await readStdin() : (options.body ?? "");
      const execution = await client.post<ExecutionRecord>(
        `/v1/functions/${fn.id}/executions`,
        { method, path: options.path, headers: options.header ?? {}, body, async: Boolean(options.async), ...(options.at ? { scheduledAt: new Date(options.at).toISOString() } : {}) },
        { target: "gateway" },
      );
      if (json(command)) {
        output.out(`${JSON.stringify(execution, null, 2)}\n`);
      } else if (execution.status === "waiting" || execution.status === "scheduled") {
        output.out(`Queued execution ${execution.id} (${execution.status}${execution.scheduledAt ? ` for ${execution.scheduledAt}` : ""}); \`slipway executions show ${execution.id}\` reads its result.\n`);
      } else {
        output.err(`${describeExecution(execution, fn)}\n`);
        if (execution.responseBody) output.out(execution.responseBody.endsWith("\n") ? execution.responseBody : `${execution.responseBody}\n`);
      }
      if (finishedBadly.has(execution.status)) exit(exitCodes.failed);
    });

  program
    .command("audit")
    .description("who changed what a function serves, how and when, newest first")
    .argument("<function>", "the function")
    .option("--limit <n>", "at most this many (1-1000, default 100)", positiveInteger(1000))
    .action(async (name: string, options: { limit?: number }, command: Command) => {
      const client = await api();
      const fn = await client.findFunction(name);
      const result = await client.get<{ entries: { action: string; actor: string; via: string; fromDeploymentId: string | null; toDeploymentId: string | null; createdAt: string }[] }>(
        `/v1/functions/${fn.id}/audit${options.limit ? `?limit=${options.limit}` : ""}`,
      );
      const versions = new Map((await client.get<{ deployments: { id: string; version: number }[] }>(`/v1/deployments?functionId=${fn.id}&limit=500`)).deployments.map((d) => [d.id, `v${d.version}`]));
      const version = (id: string | null) => (id ? (versions.get(id) ?? id.slice(0, 8)) : "–");
      const rows = result.entries.map((e) => ({ when: e.createdAt, action: e.action, actor: e.actor, via: e.via, from: version(e.fromDeploymentId), to: version(e.toDeploymentId) }));
      print(command, result, rows.length === 0 ? `nothing has changed what ${fullFunctionName(fn)} serves yet` : formatTable(rows, ["when", "action", "actor", "via", "from", "to"]));
    });

  const variables = program.command("variables").description("encrypted environment variables of a repository or a function");
  const scopeHelp = "owner/repo (every function of the repository) or a function (id, repo/id with a third part, owner/repo/id, slug or UUID)";
  const scopePath = async (client: ApiClient, scope: string) => {
    if (/^[^/]+\/[^/]+$/.test(scope)) {
      const [owner, repo] = scope.split("/");
      return `/v1/repositories/${encodeURIComponent(owner!)}/${encodeURIComponent(repo!)}/variables`;
    }
    return `/v1/functions/${(await client.findFunction(scope)).id}/variables`;
  };
  variables
    .command("ls")
    .alias("list")
    .description("list variable names (values are never shown)")
    .argument("<scope>", scopeHelp)
    .action(async (scope: string, _options: unknown, command: Command) => {
      const client = await api();
      const result = await client.get<{ variables: { name: string; updatedAt: string }[] }>(await scopePath(client, scope));
      print(command, result.variables, result.variables.length === 0 ? "no variables" : formatTable(result.variables, ["name", "updatedAt"]));
    });
  variables
    .command("set")
    .description("set a variable; its value is read from standard input, so it stays out of shell history")
    .argument("<scope>", scopeHelp)
    .argument("<NAME>", "the variable's name")
    .action(async (scope: string, name: string, _options: unknown, command: Command) => {
      const client = await api();
      const path = await scopePath(client, scope);
      const value = (await readStdin()).replace(/\r?\n$/, "");
      const result = await client.put<{ name: string; created: boolean }>(`${path}/${encodeURIComponent(name)}`, { value });
      print(command, result, `${result.created ? "Set" : "Updated"} ${name}; it applies from the next deployment.`);
    });
  variables
    .command("rm")
    .alias("remove")
    .description("remove a variable")
    .argument("<scope>", scopeHelp)
    .argument("<NAME>", "the variable's name")
    .action(async (scope: string, name: string, _options: unknown, command: Command) => {
      const client = await api();
      await client.delete(`${await scopePath(client, scope)}/${encodeURIComponent(name)}`);
      print(command, { removed: name }, `Removed ${name}.`);
    });
  variables
    .command("rotate")
    .description("re-encrypt every variable under SLIPWAY_MASTER_KEY (runs against DATABASE_URL, on the Slipway host)")
    .action(async (_options: unknown, command: Command) => {
      const result = await withDatabase((db) => rotateVariableKeys(db));
      print(command, result, `Re-encrypted ${result.reencrypted} variable(s) under key ${result.keyId}.`);
    });

  const token = program.command("token").description("API tokens (operator bootstrap, against DATABASE_URL)");
  token
    .command("create")
    .description("create an API token and print it once (Slipway keeps only its hash)")
    .requiredOption("--name <name>", "who or what the token is for; the audit log shows it")
    .addOption(new Option("--kind <kind>", "server: operators and scripts; client: end users").choices(["server", "client"]).default("server"))
    .option("--team <team>", "a team the token belongs to (repeatable)", (v: string, all: string[] = []) => [...all, v])
    .option("--scope <scope>", "a scope (repeatable)", (v: string, all: string[] = []) => [...all, v])
    .action(async (options: { name: string; kind: TokenKind; team?: string[]; scope?: string[] }, command: Command) => {
      const created = await withDatabase(async (db) => {
        await runMigrations(db);
        return createApiToken(db, { name: options.name, kind: options.kind, teams: options.team ?? [], scopes: options.scope ?? [] });
      });
      print(command, created, `${created.token}\n(shown once; Slipway keeps only its hash. Use it with \`slipway login\` or SLIPWAY_TOKEN.)`);
    });

  program
    .command("login")
    .description("check an API token and save it, with the API's URL, in $XDG_CONFIG_HOME/slipway/config.json (mode 0600)")
    .option("--api-url <url>", "the app's URL (default: SLIPWAY_API_URL, the saved one, or http://127.0.0.1:3000)")
    .option("--with-token", "read the token from standard input")
    .action(async (options: { apiUrl?: string; withToken?: boolean }, command: Command) => {
      const settings = await loadCliSettings(env);
      if (options.apiUrl) {
        try {
          new URL(options.apiUrl);
        } catch {
          throw new CliError(`--api-url ${options.apiUrl} is not a URL (e.g. http://127.0.0.1:3000)`, exitCodes.usage);
        }
        settings.apiUrl = options.apiUrl.replace(/\/+$/, "");
        settings.apiUrlSource = `--api-url ${settings.apiUrl}`;
      }
      settings.token = await readTokenInput({ withToken: Boolean(options.withToken), prompt: output.err });
      settings.tokenSource = "the token given to `slipway login`";
      const info = await createApiClient(settings).info();
      if (!info.token) throw new CliError(`the token was refused by ${settings.apiUrl}: create one with \`slipway token create --name <you>\` on the Slipway host`);
      if (info.token.kind !== "server") throw new CliError(`this is a ${info.token.kind} token; the CLI needs a server token (\`slipway token create --name <you>\`)`);
      await saveLogin(settings.configPath, { apiUrl: settings.apiUrl, token: settings.token });
      const overridden = [env.SLIPWAY_API_URL ? "SLIPWAY_API_URL" : "", env.SLIPWAY_TOKEN ? "SLIPWAY_TOKEN" : ""].filter(Boolean);
      print(
        command,
        { apiUrl: settings.apiUrl, token: info.token, configPath: settings.configPath, version: info.version },
        `Logged in to Slipway ${info.version} at ${settings.apiUrl} as ${info.token.name}; saved in ${settings.configPath}.${overridden.length ? `\nNote: ${overridden.join(" and ")} in your environment take precedence over it.` : ""}`,
      );
    });

  program
    .command("logout")
    .description("forget the saved API URL and token")
    .action(async (_options: unknown, command: Command) => {
      const settings = await loadCliSettings(env);
      const removed = await removeLogin(settings.configPath);
      print(command, { removed, configPath: settings.configPath }, removed ? `Removed ${settings.configPath}.` : "Not logged in; nothing to remove.");
    });

  program
    .command("completion")
    .description("print a shell completion script: source <(slipway completion bash)")
    .addArgument(program.createArgument("<shell>", "bash or zsh").choices(["bash", "zsh"]))
    .action((shell: "bash" | "zsh") => {
      output.out(completionScript(program, shell));
    });

  for (const role of roleCommands) {
    const what = role === "all" ? "the app, worker and gateway in one process" : `the ${role} role`;
    program
      .command(role)
      .description(`server: run ${what} (settings from the environment)`)
      .action(() => {
        // main.ts starts roles before the CLI is reached; only a stray argument lands here.
        throw new CliError(`\`slipway ${role}\` takes no arguments`, exitCodes.usage);
      });
  }

  return program;
}

export async function runCli(argv: string[], output: Output = processOutput, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let code: number = exitCodes.ok;
  const program = createProgram(output, env, (exitCode) => {
    code = exitCode;
  });
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end with 0; every other commander error (an unknown option or
      // command, a missing argument, a bad choice, no command at all) is a usage error.
      return error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    }
    if (error instanceof CliError) {
      output.err(`slipway: ${error.message}\n`);
      return error.exitCode;
    }
    output.err(`slipway: ${error instanceof Error ? error.message : String(error)}\n`);
    return exitCodes.failed;
  }
}
