// Owns the words Slipway puts on a check run. Pure functions: facts in, GitHub's
// check-run `output` out, always within GitHub's limits.
import { diagnoseMissingTools } from "../pipeline/diagnose-missing-tools.js";
import type { ConfigNote } from "../config/parse-appwrite-config.js";
import type { ConfigProblem } from "../config/parse-slipway-config.js";
import { configFileName } from "../config/parse-slipway-config.js";

export const maxOutputText = 65_535;
const ansiPattern = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

export type CheckRunOutput = {
  title: string;
  summary: string;
  text?: string;
  annotations?: {
    path: string;
    start_line: number;
    end_line: number;
    annotation_level: "notice" | "warning" | "failure";
    message: string;
    title?: string;
  }[];
};

/** The run that reports an invalid slipway.yml (or appwrite.json). */
export const configCheckRunName = "slipway / config";

/** The run that tells how a commit's appwrite.json was read: what maps, what runs differently, what is not honoured. */
export const appwriteConfigCheckRunName = "slipway / appwrite.json";

export function checkRunName(functionName: string): string {
  return `slipway / ${functionName}`;
}

/** The end of a build log, fenced, cleaned of colour codes, within GitHub's size limit. */
export function logTail(log: string, limit = maxOutputText): string {
  const clean = log.replace(ansiPattern, "").replace(/\r(?!\n)/g, "\n");
  const fenceCost = "```text\n\n```".length + 40;
  const budget = limit - fenceCost;
  const body = clean.length > budget ? `…(earlier output trimmed)\n${clean.slice(-budget + 30)}` : clean;
  return "```text\n" + body.replaceAll("```", "ˋˋˋ") + "\n```";
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function timingTable(timings: Record<string, number>): string {
  // "build › container start" and the like are the API's detail; the check run keeps to the steps.
  const rows = Object.entries(timings).filter(([step]) => !step.includes(" › ")).map(([step, ms]) => `| ${step} | ${formatDuration(ms)} |`);
  return rows.length === 0 ? "" : ["| step | time |", "| --- | --- |", ...rows].join("\n");
}

export function queuedOutput(version: number): CheckRunOutput {
  return { title: `v${version} queued`, summary: `Deployment v${version} is waiting for a build worker.` };
}

export function buildingOutput(version: number, log = ""): CheckRunOutput {
  return {
    title: `Building v${version}`,
    summary: `Deployment v${version} is building.`,
    ...(log ? { text: logTail(log) } : {}),
  };
}

export function successOutput(facts: {
  version: number;
  url: string;
  activated: boolean;
  activationNote?: string;
  timings: Record<string, number>;
  digest: string;
  size: number;
  log: string;
  /** Every URL of this build: its aliases (production, pr-<n>) and its immutable URL. */
  links?: { label: string; url: string }[];
}): CheckRunOutput {
  const lines = [
    `**v${facts.version}** is ${facts.activated ? "live" : "built"}${facts.activated ? ` at ${facts.url}` : ""}.`,
    ...(facts.activationNote ? ["", facts.activationNote] : []),
    ...(facts.links && facts.links.length > 0 ? ["", "| URL | |", "| --- | --- |", ...facts.links.map((l) => `| ${l.label} | ${l.url} |`)] : []),
    "",
    `Artifact: \`${facts.digest}\` (${(facts.size / 1024).toFixed(1)} KiB)`,
    "",
    timingTable(facts.timings),
  ];
  return {
    title: facts.activated ? `v${facts.version} is live` : `v${facts.version} built`,
    summary: lines.join("\n").slice(0, maxOutputText),
    text: logTail(facts.log),
  };
}

export function failureOutput(facts: {
  version: number;
  reason: string;
  failedCommand?: string | null;
  log: string;
  timings: Record<string, number>;
  annotations?: CheckRunOutput["annotations"];
}): CheckRunOutput {
  // A tool, library or header the build did not find: named, with the build.packages fix.
  const missing = diagnoseMissingTools(facts.log);
  const packages = [...new Set(missing.flatMap((m) => m.packages))];
  const lines = [
    `**v${facts.version} failed:** ${facts.reason}`,
    ...(missing.length > 0
      ? [
          "",
          `**Missing from the build:** ${missing.map((m) => `\`${m.missing}\``).join(", ")}`,
          ...missing.map((m) => `- \`${m.missing}\`: ${m.advice}`),
          ...(packages.length > 0 ? ["", "In slipway.yml, under the function:", "```yaml", "build:", `  packages: [${packages.join(", ")}]`, "```"] : []),
        ]
      : []),
    ...(facts.failedCommand ? ["", "Failing command:", "```sh", facts.failedCommand, "```"] : []),
    "",
    "The previous version, if any, is still serving.",
    "",
    timingTable(facts.timings),
  ];
  return {
    title: `v${facts.version} failed: ${missing.length > 0 ? `${missing.map((m) => m.missing).join(", ")} missing (${facts.reason})` : facts.reason}`.slice(0, 250),
    summary: lines.join("\n").slice(0, maxOutputText),
    ...(facts.log ? { text: logTail(facts.log) } : {}),
    ...(facts.annotations && facts.annotations.length > 0 ? { annotations: facts.annotations.slice(0, 50) } : {}),
  };
}

export function cancelledOutput(facts: { version: number; reason: string; newer?: { version: number; url: string } | undefined; log?: string }): CheckRunOutput {
  const lines = [
    `**v${facts.version} was cancelled:** ${facts.reason}.`,
    ...(facts.newer ? ["", `The newer build is v${facts.newer.version}: ${facts.newer.url}`] : []),
    "",
    "Nothing it built was activated; what served before still serves.",
  ];
  return {
    title: `v${facts.version} cancelled`,
    summary: lines.join("\n").slice(0, maxOutputText),
    ...(facts.log ? { text: logTail(facts.log) } : {}),
  };
}

/** A function Slipway cannot deploy as configured; nothing was built. */
export function notDeployableOutput(reason: string): CheckRunOutput {
  return {
    title: "Not deployed: this function cannot be deployed as it is",
    summary: [`**Nothing was built:** ${reason}.`, "", "Rename the function or the repository, then push again."].join("\n").slice(0, maxOutputText),
  };
}

export function skippedOutput(reason: string): CheckRunOutput {
  return { title: "Skipped: nothing to deploy", summary: `Slipway did not build this function: ${reason}.`.slice(0, maxOutputText) };
}

export function awaitingApprovalOutput(reason: string, instructions: string): CheckRunOutput {
  return { title: "Waiting for approval to build fork code", summary: [`Not built yet: ${reason}.`, "", instructions].join("\n").slice(0, maxOutputText) };
}

export function invalidConfigOutput(problems: ConfigProblem[], fileName: string = configFileName): CheckRunOutput {
  const list = problems.map((p) => `- \`${fileName}\` line ${p.line}, column ${p.column}: ${p.message}`);
  return {
    title: `${fileName} is invalid: ${problems.length} problem${problems.length === 1 ? "" : "s"}`,
    summary: [`Nothing was deployed. Fix \`${fileName}\` and push again.`, "", ...list].join("\n").slice(0, maxOutputText),
    annotations: problems.slice(0, 50).map((p) => ({
      path: fileName,
      start_line: p.line,
      end_line: p.line,
      annotation_level: "failure",
      title: `Invalid ${fileName}`,
      message: p.message,
    })),
  };
}

/** How appwrite.json was read: the functions it deploys, and every note, grouped by function. */
export function appwriteConfigOutput(functions: string[], notes: ConfigNote[]): CheckRunOutput {
  const general = notes.filter((n) => n.function === null).map((n) => `- ${n.message}`);
  const byFunction = new Map<string, string[]>();
  for (const note of notes) if (note.function !== null) byFunction.set(note.function, [...(byFunction.get(note.function) ?? []), `- ${note.message}`]);
  const sections = [...byFunction].flatMap(([fn, lines]) => ["", `**${fn}**`, ...lines]);
  const deploys = functions.length === 0 ? "No function is deployed from it." : `Deploys ${functions.map((f) => `\`${f}\``).join(", ")}.`;
  return {
    title: notes.length === 0 ? "appwrite.json read as Slipway configuration" : `appwrite.json read as Slipway configuration: ${notes.length} note${notes.length === 1 ? "" : "s"}`,
    summary: [
      `This commit has no \`${configFileName}\`, so its functions come from \`appwrite.json\`. ${deploys}`,
      ...(general.length > 0 ? ["", ...general] : []),
      ...sections,
    ].join("\n").slice(0, maxOutputText),
  };
}
