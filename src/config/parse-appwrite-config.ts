// Owns the meaning of appwrite.json (the Appwrite CLI's project file) as Slipway
// configuration. Pure: text in, either the same checked config slipway.yml gives plus the
// notes a check run must show (a runtime version that differs, a field Slipway cannot
// honour, an id that changed), or a list of problems with the line each refers to.
// The README's "Moving from Appwrite" section holds the mapping table this implements.
import { LineCounter, isNode, parseDocument } from "yaml";
import { z } from "zod";
import { mapAppwriteEvent } from "./map-appwrite-event.js";
import { mapAppwriteFunctionId } from "./map-appwrite-function-id.js";
import { nearestRuntime } from "./nearest-runtime.js";
import type { AppwriteIdentity } from "../store/deployment-settings.js";
import { configTooLarge, maxConfigBytes, slipwayConfigSchema, type ConfigProblem, type SlipwayConfig } from "./parse-slipway-config.js";

export type { AppwriteIdentity };

export const appwriteConfigFileName = "appwrite.json";

/** Something the check run must say: `function` is the Slipway id it concerns, null for the whole file. */
export type ConfigNote = { function: string | null; message: string };

export type AppwriteParseResult =
  | { ok: true; config: SlipwayConfig; notes: ConfigNote[]; appwrite: Record<string, AppwriteIdentity>; listsFunctions: boolean }
  | { ok: false; problems: ConfigProblem[] };

const appwriteFunction = z
  .object({
    $id: z.string().min(1, "is required").max(36, "must be at most 36 characters"),
    name: z.string().max(128).optional(),
    runtime: z.string().min(1).max(100),
    path: z.string().min(1).max(1024),
    entrypoint: z.string().max(1024).optional(),
    commands: z.string().max(4096).optional(),
    execute: z.array(z.string().max(200)).max(100).optional(),
    events: z.array(z.string().max(256)).max(100).optional(),
    schedule: z.string().max(100).optional(),
    timeout: z.number().int().optional(),
    enabled: z.boolean().optional(),
    logging: z.boolean().optional(),
    scopes: z.array(z.string().max(100)).max(200).optional(),
    specification: z.string().max(100).optional(),
    ignore: z.union([z.array(z.string()), z.string(), z.null()]).optional(),
    vars: z.record(z.string(), z.union([z.string().max(4096), z.number(), z.boolean()])).optional(),
  })
  .loose();

const appwriteFile = z
  .object({
    projectId: z.string().max(100).optional(),
    projectName: z.string().max(256).optional(),
    functions: z.array(appwriteFunction).max(100, "lists more than 100 functions; split them across repositories").optional(),
  })
  .loose();

const knownFunctionKeys = new Set(Object.keys(appwriteFunction.shape));
// Top-level keys that describe the project, not something to deploy.
const projectKeys = new Set(["projectId", "projectName", "functions", "endpoint", "$schema"]);

/** Appwrite's execute roles that Slipway grants as they are; the rest are refused, never widened. */
function mapExecuteRole(role: string): { ok: true; permission: string } | { ok: false; reason: string } {
  if (role === "any" || role === "users") return { ok: true, permission: role };
  const team = /^team:([A-Za-z0-9_.-]+)$/.exec(role);
  if (team) return { ok: true, permission: `team:${team[1]}` };
  if (/^team:[^/]+\/.+$/.test(role)) return { ok: false, reason: "Slipway tokens have teams but no team roles" };
  if (role === "guests") return { ok: false, reason: "Slipway cannot allow callers without a token while refusing ones with a token; use 'any'" };
  if (/^users\/(verified|unverified)$/.test(role)) return { ok: false, reason: "Slipway tokens have no verified state; use 'users'" };
  if (/^(user|member|label):/.test(role)) return { ok: false, reason: "Slipway has no users, memberships or labels; give the callers an API token with a team and use 'team:<name>'" };
  return { ok: false, reason: "this is not an Appwrite role Slipway knows" };
}

function normalizePath(path: string): string {
  return path.replace(/^(\.\/)+/, "").replace(/\/+$/, "") || ".";
}

export function parseAppwriteConfig(text: string, runtimes: readonly string[]): AppwriteParseResult {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > maxConfigBytes) return { ok: false, problems: [{ ...configTooLarge(bytes), message: configTooLarge(bytes).message.replace("slipway.yml", appwriteConfigFileName) }] };

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    const position = /position (\d+)/.exec(message);
    const where = position ? locateOffset(text, Number(position[1])) : { line: 1, column: 1 };
    return { ok: false, problems: [{ message: `JSON syntax error: ${message.replace(/ in JSON at position \d+.*$/, "")}`, ...where, path: "" }] };
  }
  const locate = positionsIn(text);

  const file = appwriteFile.safeParse(value);
  if (!file.success) return { ok: false, problems: file.error.issues.map((issue) => problemAt(locate, issue.path, describeIssue(issue))) };

  const notes: ConfigNote[] = [];
  const problems: ConfigProblem[] = [];
  const projectId = file.data.projectId ?? null;
  for (const [key, entry] of Object.entries(file.data)) {
    if (projectKeys.has(key) || isEmpty(entry)) continue;
    notes.push({ function: null, message: `\`${key}\` is not deployed: Slipway deploys functions only` });
  }

  const functions: Record<string, unknown>[] = [];
  // For each entry of `functions`, its index in appwrite.json.
  const sourceIndex: number[] = [];
  const appwrite: Record<string, AppwriteIdentity> = {};
  const idOwners = new Map<string, string>();
  const all = file.data.functions ?? [];
  all.forEach((fn, index) => {
    const at = (key: string) => ["functions", index, key];
    const mappedId = mapAppwriteFunctionId(fn.$id);
    if (!mappedId.ok) {
      problems.push(problemAt(locate, at("$id"), mappedId.message));
      return;
    }
    const id = mappedId.id;
    const earlier = idOwners.get(id);
    if (earlier !== undefined) {
      problems.push(problemAt(locate, at("$id"), `'${fn.$id}' and '${earlier}' would both deploy as Slipway function '${id}' (ids are lower-cased, '.' and '_' become '-'); rename one`));
      return;
    }
    idOwners.set(id, fn.$id);
    const note = (message: string) => notes.push({ function: id, message });
    if (id !== fn.$id) note(`\`$id\` '${fn.$id}' deploys as Slipway function '${id}'; Appwrite's API and SDKs still reach it as '${fn.$id}'`);
    if (fn.enabled === false) {
      note("`enabled` is false: not deployed from this commit (a deployment already serving keeps serving)");
      return;
    }

    const runtime = nearestRuntime(fn.runtime, runtimes);
    if (!runtime.ok) {
      problems.push(problemAt(locate, at("runtime"), runtime.message));
      return;
    }
    if (!runtime.sameVersion) note(`\`runtime\` ${fn.runtime} runs on Slipway's ${runtime.runtime}: the versions differ`);

    const execute: string[] = [];
    for (const role of fn.execute ?? []) {
      const mapped = mapExecuteRole(role);
      if (mapped.ok) execute.push(mapped.permission);
      else note(`\`execute\` role '${role}' is not granted: ${mapped.reason}`);
    }
    const events: string[] = [];
    for (const event of fn.events ?? []) {
      const mapped = mapAppwriteEvent(event);
      if (mapped.ok) events.push(mapped.pattern);
      else note(`\`events\` '${event}' is unsupported and never runs this function: ${mapped.reason}`);
    }
    if (fn.logging === false) note("`logging` false is not honoured: Slipway always keeps an execution's logs and errors");
    if (fn.scopes && fn.scopes.length > 0) {
      note(`\`scopes\` (${fn.scopes.join(", ")}) are not honoured: APPWRITE_FUNCTION_API_KEY is the function's Slipway execution key, which may execute this function and publish events, and nothing else`);
    }
    if (fn.specification) note(`\`specification\` '${fn.specification}' is not honoured: every runtime gets the operator's SLIPWAY_RUNTIME_MEMORY_MB and SLIPWAY_RUNTIME_CPUS`);
    if (fn.ignore && fn.ignore.length > 0) note("`ignore` is not honoured: the build gets the whole `path` directory as the commit has it");
    for (const key of Object.keys(fn)) if (!knownFunctionKeys.has(key)) note(`\`${key}\` is not read by Slipway`);

    const path = normalizePath(fn.path);
    functions.push({
      id,
      runtime: runtime.runtime,
      root: path,
      ...(fn.entrypoint ? { entrypoint: fn.entrypoint } : {}),
      ...(fn.commands !== undefined ? { commands: fn.commands } : {}),
      watch: [path === "." ? "**" : `${path}/**`, appwriteConfigFileName],
      ...(execute.length > 0 ? { execute } : {}),
      ...(fn.schedule ? { schedule: fn.schedule } : {}),
      ...(events.length > 0 ? { events } : {}),
      ...(fn.vars && Object.keys(fn.vars).length > 0 ? { variables: fn.vars } : {}),
      ...(fn.timeout !== undefined ? { timeout: fn.timeout } : {}),
    });
    sourceIndex.push(index);
    appwrite[id] = { functionId: fn.$id, name: fn.name ?? fn.$id, runtime: fn.runtime, projectId };
  });
  if (problems.length > 0) return { ok: false, problems };
  // Nothing to deploy (no functions, or only disabled ones) is no problem for appwrite.json.
  if (functions.length === 0) return { ok: true, config: { functions: [] }, notes, appwrite, listsFunctions: all.length > 0 };

  // The rules every Slipway function follows (paths inside the repository, a valid cron
  // schedule, timeouts within 1-900 s, …), said in appwrite.json's own words.
  const checked = slipwayConfigSchema(runtimes).safeParse({ functions });
  if (!checked.success) {
    return {
      ok: false,
      problems: checked.error.issues
        .filter((issue) => !(issue.path.length === 1 && issue.path[0] === "functions"))
        .map((issue) => {
          const [, slipwayIndex, key, ...rest] = issue.path;
          const index = sourceIndex[Number(slipwayIndex)] ?? 0;
          const appwriteKey = typeof key === "string" ? (appwriteKeys[key] ?? key) : "";
          return problemAt(locate, ["functions", index, appwriteKey, ...rest.filter((p): p is string | number => typeof p !== "symbol")].filter((p) => p !== ""), issue.message);
        }),
    };
  }
  return { ok: true, config: checked.data, notes, appwrite, listsFunctions: all.length > 0 };
}

const appwriteKeys: Record<string, string> = { id: "$id", root: "path", variables: "vars" };

function isEmpty(value: unknown): boolean {
  if (value === null || value === undefined || value === "") return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === "object") return Object.keys(value).length === 0;
  return false;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_type" && issue.input === undefined) return "is required";
  return issue.message;
}

function locateOffset(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split("\n");
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

type Locate = (path: (string | number)[]) => { line: number; column: number };

// JSON is YAML, so the yaml package finds where a key sits; a file it cannot read that
// way (JSON.parse already accepted it) is pointed at from its first line.
function positionsIn(text: string): Locate {
  const lineCounter = new LineCounter();
  let document: ReturnType<typeof parseDocument> | null = null;
  try {
    document = parseDocument(text, { lineCounter, prettyErrors: false });
    if (document.errors.length > 0) document = null;
  } catch {
    document = null;
  }
  return (path) => {
    if (!document) return { line: 1, column: 1 };
    let node: unknown;
    for (let depth = path.length; depth >= 0 && !isNode(node); depth--) {
      node = depth === 0 ? document.contents : document.getIn(path.slice(0, depth), true);
    }
    const offset = isNode(node) && node.range ? node.range[0] : 0;
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
}

function problemAt(locate: Locate, rawPath: PropertyKey[], message: string): ConfigProblem {
  const path = rawPath.filter((p): p is string | number => typeof p !== "symbol");
  const label = path.length > 0 ? path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("").slice(1) : "(top level)";
  return { message: `${label}: ${message}`, ...locate(path), path: label };
}
