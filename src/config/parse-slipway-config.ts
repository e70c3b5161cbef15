// Owns the meaning of slipway.yml. Pure: text in, either a checked config or a list of
// problems, each with the line and column it refers to, so a check run can point at it.
// Its input is bounded: the file's size, the number of functions, every string's length
// and how far YAML aliases may expand (a "billion laughs" file is a problem, not a hang).
import { LineCounter, isNode, parseDocument, visit, type Document } from "yaml";
import { z } from "zod";
import { eventSubscriptionPattern } from "../executions/match-event-pattern.js";
import { validateSchedule } from "../executions/validate-schedule.js";
import { checkVariableName } from "../variables/check-variable-name.js";

export const configFileName = "slipway.yml";

export const maxConfigBytes = 64 * 1024;
const maxFunctions = 100;
// How many times YAML aliases may repeat what their anchors hold (the yaml package's own guard).
const maxAliasCount = 100;

/** The problem of a file over the size limit, said the same wherever the file is read. */
export function configTooLarge(bytes: number): ConfigProblem {
  const size = bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
  return { message: `the file is ${size}; ${configFileName} may be at most ${maxConfigBytes / 1024} KiB`, line: 1, column: 1, path: "" };
}

const boundedString = (max: number) => z.string().max(max, `must be at most ${max} characters`);

const functionId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, "must be 1-40 characters of a-z, 0-9 and '-', starting with a letter or digit");

const relativePath = boundedString(1024)
  .min(1)
  .refine((p) => !p.startsWith("/") && !p.split("/").includes(".."), "must be a path inside the repository (no leading '/' and no '..')");

const executePermission = boundedString(200)
  .regex(/^(any|users|team:[A-Za-z0-9_.-]+|key:[A-Za-z0-9_.:-]+)$/, "must be any, users, team:<name> or key:<scope>");

// Debian's rule for a package name (policy 5.6.1): lower-case letters, digits, '+', '-' and
// '.', at least two characters, starting with a letter or digit. No version, no option.
export const debianPackageName = /^[a-z0-9][a-z0-9+.-]{1,99}$/;
const maxBuildPackages = 50;

const buildSettings = z
  .object({
    // Debian packages installed in the build container before the commands (see
    // src/pipeline/build-packages.ts for how they are cached and what ships at run time).
    packages: z
      .array(
        boundedString(100).regex(
          debianPackageName,
          "must be a Debian package name: a-z, 0-9, '+', '-' and '.', like libvips-dev (no version, option or space)",
        ),
      )
      .max(maxBuildPackages, `may list at most ${maxBuildPackages} packages`)
      .default([]),
  })
  .strict();

export function functionSchema(runtimes: readonly string[]) {
  return z
    .object({
      id: functionId,
      runtime: boundedString(100).refine((r) => runtimes.includes(r), {
        error: (issue) => `'${String(issue.input)}' is not a known runtime; use one of: ${runtimes.join(", ")}`,
      }),
      root: relativePath.default("."),
      entrypoint: relativePath.optional(),
      commands: z.union([boundedString(4096), z.array(boundedString(4096)).min(1).max(100)]).optional(),
      build: buildSettings.optional(),
      branch: boundedString(255).min(1).optional(),
      cache: z.boolean().default(true),
      // Paths (globs, from the repository root) whose change triggers a build; default: root/** and slipway.yml.
      watch: z.array(boundedString(1024).min(1)).min(1).max(100).optional(),
      // false: a newer commit does not cancel this function's older builds of the same alias.
      supersede: z.boolean().default(true),
      // Who may execute it: any | users | team:<name> | key:<scope>; default: server API keys only.
      execute: z.union([executePermission, z.array(executePermission).max(100)]).transform((v) => (Array.isArray(v) ? v : [v])).optional(),
      // A 5-field cron expression in UTC; each tick runs the function once.
      schedule: boundedString(100).superRefine((value, ctx) => {
        const problem = validateSchedule(value);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      }).optional(),
      // Event name patterns (`deployments.*.ready`, `orders.**`) that run the function.
      events: z.array(boundedString(200).regex(eventSubscriptionPattern, "must be dot-separated names, '*' for one segment or a final '**'")).max(100).optional(),
      // Non-secret variables; secrets are set through the API or CLI, never in the repository.
      variables: z
        .record(z.string(), z.union([boundedString(4096), z.number(), z.boolean()]).transform(String))
        .superRefine((variables, ctx) => {
          for (const name of Object.keys(variables)) {
            const problem = checkVariableName(name);
            if (problem) ctx.addIssue({ code: "custom", path: [name], message: problem });
          }
        })
        .optional(),
      // Seconds an execution may run (sync executions and function URLs stop at 30).
      timeout: z.number().int().min(1).max(900).optional(),
    })
    .strict();
}

export function slipwayConfigSchema(runtimes: readonly string[]) {
  return z
    .object({
      functions: z
        .array(functionSchema(runtimes))
        .min(1, "must list at least one function")
        .max(maxFunctions, `lists more than ${maxFunctions} functions; split them across repositories`),
    })
    .strict()
    .superRefine((config, ctx) => {
      const seen = new Set<string>();
      config.functions.forEach((fn, index) => {
        if (seen.has(fn.id)) {
          ctx.addIssue({ code: "custom", path: ["functions", index, "id"], message: `'${fn.id}' is used by two functions; ids must be unique` });
        }
        seen.add(fn.id);
      });
    });
}

export type SlipwayConfig = z.infer<ReturnType<typeof slipwayConfigSchema>>;
export type FunctionConfig = SlipwayConfig["functions"][number];

export type ConfigProblem = { message: string; line: number; column: number; path: string };

export type ParseResult = { ok: true; config: SlipwayConfig } | { ok: false; problems: ConfigProblem[] };

export function parseSlipwayConfig(text: string, runtimes: readonly string[]): ParseResult {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > maxConfigBytes) return { ok: false, problems: [configTooLarge(bytes)] };
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };

  if (document.errors.length > 0) {
    return {
      ok: false,
      problems: document.errors.map((error) => ({
        message: `YAML syntax error: ${error.message.split("\n")[0]}`,
        ...at(error.pos[0]),
        path: "",
      })),
    };
  }

  let value: unknown;
  try {
    value = document.toJS({ maxAliasCount });
  } catch (error) {
    // An alias that expands too far, or names no anchor before it: said at the first alias.
    const message = (error as Error).message;
    const problem = /excessive alias count/i.test(message)
      ? `YAML aliases (*name) repeat their anchors' content too often (at most ${maxAliasCount}); write the values out instead`
      : `YAML error: ${message.split("\n")[0]}`;
    return { ok: false, problems: [{ message: problem, ...at(firstAliasOffset(document)), path: "" }] };
  }
  const parsed = slipwayConfigSchema(runtimes).safeParse(value ?? {});
  if (parsed.success) return { ok: true, config: parsed.data };

  return {
    ok: false,
    problems: parsed.error.issues.map((issue) => {
      const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
      // Point at the deepest node that exists: a missing key is reported on its parent.
      let node: unknown;
      for (let depth = path.length; depth >= 0 && !isNode(node); depth--) {
        node = depth === 0 ? document.contents : document.getIn(path.slice(0, depth), true);
      }
      const offset = isNode(node) && node.range ? node.range[0] : 0;
      const label = path.length > 0 ? path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("").slice(1) : "(top level)";
      return { message: `${label}: ${describeIssue(issue)}`, ...at(offset), path: label };
    }),
  };
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_type" && issue.input === undefined) return "is required";
  if (issue.code === "unrecognized_keys") return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `'${k}'`).join(", ")}`;
  return issue.message;
}

function firstAliasOffset(document: Document): number {
  let offset = 0;
  visit(document, {
    Alias: (_key, node) => {
      offset = node.range?.[0] ?? 0;
      return visit.BREAK;
    },
  });
  return offset;
}
