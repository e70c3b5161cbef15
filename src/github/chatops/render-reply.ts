// Owns the words of Slipway's replies to comment commands. Pure.
import { unconfirmedNote } from "../../gateway/route-sync.js";
import { formatDuration } from "../render-check-run.js";

export function quote(text: string): string {
  return `> ${text.replace(/\n/g, "\n> ")}`;
}

export const helpText = [
  "Slipway understands these commands (first line of a comment, on a pull request or a commit):",
  "",
  "| command | what it does |",
  "| --- | --- |",
  "| `/slipway rollback [function] [vN\\|sha\\|deployment-id]` | serve an earlier ready deployment (default: the previous one) and pin production |",
  "| `/slipway promote [function] [vN\\|pr-<n>]` | serve a ready deployment (default: the newest), e.g. a preview, and unpin production |",
  "| `/slipway redeploy [function] [--no-cache]` | build production's commit again as a new version |",
  "| `/slipway unpin [function]` | let pushes go live again after a rollback |",
  "| `/slipway status` | what each function serves |",
  "| `/slipway approve` | on a pull request from a fork: build its current head commit (without secrets) |",
  "| `/slipway help` | this table |",
  "",
  "Commands need write access to the repository (write, maintain or admin, or a custom role built on them).",
].join("\n");

export function replyBody(commandText: string, outcome: "done" | "refused", message: string): string {
  const emoji = outcome === "done" ? "🚀" : "👎";
  // A table's header row must begin its line: an emoji before it would be a cell of its own.
  const body = message.startsWith("|") ? `${emoji}\n\n${message}` : `${emoji} ${message}`;
  return `${quote(commandText)}\n\n${body}`;
}

export function switchedMessage(result: { functionName: string; fromVersion: number | null; toVersion: number; pinned: boolean; url: string; durationMs: number; unconfirmedGateways?: string[] }, action: "rollback" | "promote"): string {
  const change = `v${result.fromVersion ?? "–"} → v${result.toVersion}`;
  const verb = action === "rollback" ? "Rolled back" : "Promoted";
  const pin = result.pinned
    ? "Production is now **pinned**: pushes still build, but they do not go live until `/slipway promote` or `/slipway unpin`."
    : "Production follows pushes again.";
  const unconfirmed = unconfirmedNote(result.unconfirmedGateways);
  return `${verb} **${result.functionName}** production: ${change} in ${formatDuration(result.durationMs)}.\n\nServing at ${result.url}\n\n${pin}${unconfirmed ? `\n\n⚠️ ${unconfirmed}.` : ""}`;
}

/** A table cell: no pipe or line break may end the cell or the row early. */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

export function statusTable(repository: string, rows: { name: string; version: number | null; pinned: boolean; url: string; latest: string }[]): string {
  if (rows.length === 0) return `${repository} has no functions deployed by Slipway yet.`;
  return [
    `What each function of **${cell(repository)}** serves:`,
    "",
    "| function | production | pinned | latest deployment | URL |",
    "| --- | --- | --- | --- | --- |",
    ...rows.map((r) => `| ${cell(r.name)} | ${r.version === null ? "–" : `v${r.version}`} | ${r.pinned ? "yes" : "no"} | ${cell(r.latest)} | ${cell(r.url)} |`),
  ].join("\n");
}
