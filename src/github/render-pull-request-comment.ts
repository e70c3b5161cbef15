// Owns the words of the one sticky Slipway comment on a pull request: a table of the
// functions with status, version, preview URL and a logs link. Pure. The hidden marker
// lets anyone (and Slipway) recognise the comment.
import { deploymentUrl, functionUrl } from "../gateway/route-key.js";

export const pullRequestCommentMarker = "<!-- slipway:pull-request-comment -->";
export const maxCommentBody = 65_536;

export type CommentRow = {
  functionName: string;
  slug: string | null;
  note: string | null;
  deploymentId: string | null;
  status: string | null;
  version: number | null;
  commitSha: string | null;
};

const statusWords: Record<string, string> = {
  queued: "⏳ queued",
  building: "🔨 building",
  ready: "✅ ready",
  failed: "❌ failed",
  cancelled: "⏹️ cancelled",
};

export function renderPullRequestComment(facts: { number: number; state: "open" | "closed"; rows: CommentRow[]; publicUrl: string; appUrl: string }): string {
  const alias = `pr-${facts.number}`;
  const lines = [
    pullRequestCommentMarker,
    `### Slipway previews for #${facts.number}`,
    "",
    facts.state === "closed" ? "This pull request is closed: its previews were removed.\n" : "",
    "| function | status | version | preview | logs |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const row of facts.rows) {
    const status = row.status ? (statusWords[row.status] ?? row.status) : row.note?.startsWith("awaiting") ? "🔒 awaiting approval" : "➖ skipped";
    const version = row.version !== null ? `v${row.version}${row.commitSha ? ` (\`${row.commitSha.slice(0, 7)}\`)` : ""}` : "–";
    const preview =
      row.status === "ready" && row.slug && facts.state === "open"
        ? `[${alias}](${functionUrl(facts.publicUrl, row.slug, alias)}) · [this build](${deploymentUrl(facts.publicUrl, row.deploymentId!)})`
        : "–";
    const logs = row.deploymentId ? `[logs](${facts.appUrl}/deployments/${row.deploymentId})` : (row.note ?? "–");
    lines.push(`| \`${row.functionName}\` | ${status} | ${version} | ${preview} | ${logs.replaceAll("|", "\\|").replaceAll("\n", " ")} |`);
  }
  return lines.filter((l, i) => l !== "" || i !== 3).join("\n").slice(0, maxCommentBody);
}
