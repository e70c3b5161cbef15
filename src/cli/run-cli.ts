// The `slipway` command line for people and scripts. Everything but `token create` goes
// through the REST API (SLIPWAY_API_URL, SLIPWAY_TOKEN), so the CLI needs no access to
// Slipway's database or GitHub. `token create` is the operator's bootstrap: it writes to
// the database directly (DATABASE_URL) and prints the new token once.
import { randomUUID } from "node:crypto";
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { request } from "undici";
import { createApiToken, type TokenKind } from "../api/api-tokens.js";
import { unconfirmedNote } from "../gateway/route-sync.js";
import { createDatabase } from "../store/create-database.js";
import { packUpload } from "./pack-upload.js";
import { runMigrations } from "../store/run-migrations.js";
import { listVariables, putVariable, removeVariable } from "../variables/variable-client.js";
import { rotateVariableKeys } from "../variables/rotate-variable-keys.js";

export const cliCommands = ["functions", "deployments", "logs", "deploy", "rollback", "promote", "unpin", "redeploy", "variables", "token", "help"] as const;

const usage = `usage:
  slipway functions ls [--repo owner/name] [--json]
  slipway deployments ls [--function <id>] [--status <status>] [--limit <n>] [--json]
  slipway logs <deployment-id> [--follow]
  slipway deploy <dir> --function <function-id> [--prod] [--no-cache]
                                              (uploads <dir>, builds it and waits; a preview unless --prod)
  slipway rollback <function-id> [vN|sha|deployment-id]
  slipway promote <function-id> [vN|sha|deployment-id|pr-<n>]
  slipway unpin <function-id>
  slipway redeploy <function-id> [--no-cache]
  slipway variables ls <owner/repo|function-id>
  slipway variables set <owner/repo|function-id> <NAME>      (the value is read from standard input)
  slipway variables rm <owner/repo|function-id> <NAME>
  slipway variables rotate                                   (re-encrypts with SLIPWAY_MASTER_KEY; DATABASE_URL)
  slipway token create --name <name> [--kind server|client] [--team <t>]... [--scope <s>]...

  SLIPWAY_API_URL (default http://127.0.0.1:3000) and SLIPWAY_TOKEN (a server token) reach the API.`;

class CliError extends Error {}

type Output = { out: (text: string) => void; err: (text: string) => void };

function apiBase(): string {
  return (process.env.SLIPWAY_API_URL ?? "http://127.0.0.1:3000").replace(/\/+$/, "");
}

function apiToken(): string {
  const token = process.env.SLIPWAY_TOKEN;
  if (!token) throw new CliError("SLIPWAY_TOKEN is not set; create a server token with `slipway token create --name <you>`");
  return token;
}

async function api(method: "GET" | "POST", path: string, body?: unknown): Promise<unknown> {
  const base = apiBase();
  const token = apiToken();
  const response = await request(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.body.text();
  const parsed = text ? (JSON.parse(text) as { error?: string }) : {};
  if (response.statusCode >= 400) throw new CliError(`${parsed.error ?? `HTTP ${response.statusCode}`}`);
  return parsed;
}

const cliUserAgent = "slipway-cli/0.1";

type UploadResult = { deploymentId: string; functionId: string; functionName: string; version: number; production: boolean; files: number; bytes: number; url: string; productionUrl: string };

/** `slipway deploy <dir>`: upload, follow the build, then say where it serves (exit 1 if it failed). */
async function deployDirectory(
  dir: string | undefined,
  options: { functionId: string | undefined; production: boolean; noCache: boolean; json: boolean },
  output: Output,
): Promise<number> {
  if (!dir) throw new CliError("which directory? `slipway deploy <dir> --function <function-id> [--prod]`");
  if (!options.functionId) throw new CliError("which function? add `--function <function-id>` (see `slipway functions ls`)");
  const directory = resolve(dir);
  if (!(await stat(directory).catch(() => null))?.isDirectory()) throw new CliError(`${dir} is not a directory`);
  const base = apiBase();
  const token = apiToken();
  const query = new URLSearchParams({ production: String(options.production), noCache: String(options.noCache) });
  const response = await request(`${base}/v1/functions/${encodeURIComponent(options.functionId)}/deployments?${query}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/gzip", "idempotency-key": randomUUID(), "user-agent": cliUserAgent },
    body: await packUpload(directory),
  });
  const text = await response.body.text();
  const parsed = (text ? JSON.parse(text) : {}) as UploadResult & { error?: string };
  if (response.statusCode >= 400) throw new CliError(parsed.error ?? `HTTP ${response.statusCode}`);
  if (!options.json) output.out(`Uploaded ${parsed.files} files (${Math.ceil(parsed.bytes / 1024)} KB) as ${parsed.functionName} v${parsed.version} (${parsed.deploymentId}); building…\n`);
  if (!options.json) await streamLogs(parsed.deploymentId, true, output);
  const final = (await api("GET", `/v1/deployments/${parsed.deploymentId}`)) as { status: string; error: string | null };
  for (let i = 0; i < 600 && (final.status === "queued" || final.status === "building"); i++) {
    await new Promise((r) => setTimeout(r, 1000));
    Object.assign(final, await api("GET", `/v1/deployments/${parsed.deploymentId}`));
  }
  const functions = (await api("GET", "/v1/functions")) as { functions: { id: string; aliases: { alias: string; version: number; pinned: boolean }[] }[] };
  const production = functions.functions.find((f) => f.id === parsed.functionId)?.aliases.find((a) => a.alias === "production");
  const live = production?.version === parsed.version;
  const summary = { ...parsed, status: final.status, error: final.error, live };
  if (options.json) {
    output.out(`${JSON.stringify(summary, null, 2)}\n`);
  } else if (final.status !== "ready") {
    output.err(`slipway: v${parsed.version} ${final.status}${final.error ? `: ${final.error}` : ""}\n`);
  } else {
    const lines = [`v${parsed.version} is ready at ${parsed.url}`];
    if (live) lines.push(`Production now serves v${parsed.version}: ${parsed.productionUrl}`);
    else if (options.production && production?.pinned) lines.push(`Production is pinned to v${production.version} and still serves it; \`slipway promote ${parsed.functionId} v${parsed.version}\` puts this version live.`);
    else if (options.production) lines.push(`Production still serves v${production?.version ?? "–"} (a newer version is live).`);
    else lines.push(`A preview: production is unchanged. \`slipway promote ${parsed.functionId} v${parsed.version}\` or \`slipway deploy ${dir} --function ${parsed.functionId} --prod\` puts it live.`);
    output.out(`${lines.join("\n")}\n`);
  }
  return final.status === "ready" ? 0 : 1;
}

function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = rows.map((row) => columns.map((c) => String(row[c] ?? "–")));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(columns), ...cells.map(line)].join("\n");
}

async function streamLogs(deploymentId: string, follow: boolean, output: Output): Promise<void> {
  const response = await request(`${apiBase()}/v1/deployments/${deploymentId}/logs${follow ? "?follow=true" : ""}`, {
    headers: { authorization: `Bearer ${process.env.SLIPWAY_TOKEN ?? ""}` },
    bodyTimeout: 0,
  });
  if (response.statusCode >= 400) throw new CliError(((await response.body.json()) as { error?: string }).error ?? `HTTP ${response.statusCode}`);
  for await (const chunk of response.body) output.out((chunk as Buffer).toString("utf8"));
}

export async function runCli(argv: string[], output: Output = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) }): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: "boolean" },
      follow: { type: "boolean", short: "f" },
      "no-cache": { type: "boolean" },
      prod: { type: "boolean" },
      function: { type: "string" },
      status: { type: "string" },
      limit: { type: "string" },
      repo: { type: "string" },
      name: { type: "string" },
      kind: { type: "string" },
      team: { type: "string", multiple: true },
      scope: { type: "string", multiple: true },
    },
  });
  const [command, ...rest] = positionals;
  const print = (value: unknown, text: string) => output.out(`${values.json ? JSON.stringify(value, null, 2) : text}\n`);
  try {
    switch (command) {
      case "functions": {
        const query = values.repo ? `?repo=${encodeURIComponent(values.repo)}` : "";
        const result = (await api("GET", `/v1/functions${query}`)) as { functions: { id: string; name: string; owner: string; repo: string; runtime: string; aliases: { alias: string; version: number; pinned: boolean }[]; url: string }[] };
        const rows = result.functions.map((f) => {
          const production = f.aliases.find((a) => a.alias === "production");
          return { id: f.id, function: f.name, repo: `${f.owner}/${f.repo}`, runtime: f.runtime, production: production ? `v${production.version}${production.pinned ? " (pinned)" : ""}` : "–", url: f.url };
        });
        print(result, table(rows, ["id", "function", "repo", "runtime", "production", "url"]));
        return 0;
      }
      case "deployments": {
        const params = new URLSearchParams();
        if (values.function) params.set("functionId", values.function);
        if (values.status) params.set("status", values.status);
        if (values.limit) params.set("limit", values.limit);
        const result = (await api("GET", `/v1/deployments${params.size ? `?${params}` : ""}`)) as { deployments: Record<string, unknown>[] };
        const rows = result.deployments.map((d) => ({
          ...d,
          version: `v${d.version}`,
          // A pruned build can no longer serve: the retention policy removed it.
          status: d.prunedAt ? `${String(d.status)} (pruned)` : d.status,
          commit: String(d.commitSha ?? "").slice(0, 7),
          created: d.createdAt,
        }));
        print(result, table(rows, ["id", "functionName", "version", "status", "commit", "created"]));
        return 0;
      }
      case "logs": {
        if (!rest[0]) throw new CliError("which deployment? `slipway logs <deployment-id> [--follow]`");
        await streamLogs(rest[0], Boolean(values.follow), output);
        return 0;
      }
      case "deploy":
        return await deployDirectory(rest[0], { functionId: values.function, production: Boolean(values.prod), noCache: Boolean(values["no-cache"]), json: Boolean(values.json) }, output);
      case "rollback":
      case "promote": {
        if (!rest[0]) throw new CliError(`which function? \`slipway ${command} <function-id> [target]\` (see \`slipway functions ls\`)`);
        const result = (await api("POST", `/v1/functions/${rest[0]}/${command}`, rest[1] ? { target: rest[1] } : {})) as { functionName: string; fromVersion: number | null; toVersion: number; url: string; pinned: boolean; durationMs: number; unconfirmedGateways?: string[] };
        print(result, `${command === "rollback" ? "Rolled back" : "Promoted"} ${result.functionName}: v${result.fromVersion ?? "–"} → v${result.toVersion} in ${Math.round(result.durationMs)} ms${result.pinned ? " (production pinned)" : ""}\n${result.url}`);
        const unconfirmed = unconfirmedNote(result.unconfirmedGateways);
        if (unconfirmed) process.stderr.write(`warning: ${unconfirmed}\n`);
        return 0;
      }
      case "unpin": {
        if (!rest[0]) throw new CliError("which function? `slipway unpin <function-id>`");
        const result = (await api("POST", `/v1/functions/${rest[0]}/unpin`, {})) as { functionName: string; version: number };
        print(result, `Unpinned ${result.functionName}; v${result.version} serves until the next push.`);
        return 0;
      }
      case "redeploy": {
        if (!rest[0]) throw new CliError("which function? `slipway redeploy <function-id> [--no-cache]`");
        const result = (await api("POST", `/v1/functions/${rest[0]}/redeploy`, { noCache: Boolean(values["no-cache"]) })) as { functionName: string; version: number; deploymentId: string };
        print(result, `Redeploying ${result.functionName} as v${result.version} (${result.deploymentId}); follow it with \`slipway logs ${result.deploymentId} --follow\`.`);
        return 0;
      }
      case "variables": {
        const [action, scope, name] = rest;
        const apiUrl = apiBase();
        const token = process.env.SLIPWAY_TOKEN ?? "";
        if (action === "rotate") {
          const db = createDatabase(process.env.DATABASE_URL ?? "postgres://slipway:slipway@127.0.0.1:5432/slipway");
          try {
            const result = await rotateVariableKeys(db);
            print(result, `Re-encrypted ${result.reencrypted} variable(s) under key ${result.keyId}.`);
          } finally {
            await db.end();
          }
          return 0;
        }
        if (!scope || !["ls", "set", "rm"].includes(action ?? "")) throw new CliError("`slipway variables ls|set|rm <owner/repo|function-id> [NAME]`");
        if (!token) throw new CliError("SLIPWAY_TOKEN is not set");
        if (action === "ls") {
          const variables = await listVariables(apiUrl, token, scope);
          print(variables, variables.length === 0 ? "no variables" : table(variables, ["name", "updatedAt"]));
          return 0;
        }
        if (!name) throw new CliError(`which variable? \`slipway variables ${action} ${scope} <NAME>\``);
        if (action === "set") {
          // From standard input, so the value never lands in shell history or the process list.
          const chunks: Buffer[] = [];
          for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
          const value = Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
          const result = await putVariable(apiUrl, token, scope, name, value);
          print(result, `${result.created ? "Set" : "Updated"} ${name}; it applies from the next deployment.`);
          return 0;
        }
        await removeVariable(apiUrl, token, scope, name);
        print({ removed: name }, `Removed ${name}.`);
        return 0;
      }
      case "token": {
        if (rest[0] !== "create" || !values.name) throw new CliError("`slipway token create --name <name> [--kind server|client] [--team t] [--scope s]`");
        const kind = (values.kind ?? "server") as TokenKind;
        if (kind !== "server" && kind !== "client") throw new CliError("--kind is server or client");
        const db = createDatabase(process.env.DATABASE_URL ?? "postgres://slipway:slipway@127.0.0.1:5432/slipway");
        try {
          await runMigrations(db);
          const created = await createApiToken(db, { name: values.name, kind, teams: values.team ?? [], scopes: values.scope ?? [] });
          print(created, `${created.token}\n(shown once; Slipway keeps only its hash)`);
        } finally {
          await db.end();
        }
        return 0;
      }
      default:
        output.out(`${usage}\n`);
        return command === undefined || command === "help" ? 0 : 2;
    }
  } catch (error) {
    // The API's refusals arrive as plain errors from the API clients: they are messages for the user.
    if (error instanceof CliError || (error instanceof Error && !(error instanceof TypeError) && command === "variables")) {
      output.err(`slipway: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
