// Reads a `/slipway …` command from a comment. Pure. Only the first line counts, the
// command name is case-insensitive, and anything unknown is a request for help.
export type Command =
  | { name: "rollback"; functionName?: string; target?: string }
  | { name: "promote"; functionName?: string; target?: string }
  | { name: "redeploy"; functionName?: string; noCache: boolean }
  | { name: "unpin"; functionName?: string }
  | { name: "status" }
  | { name: "approve" }
  | { name: "help"; unknown?: string };

export type ParsedCommand = { command: Command; text: string };

const prefix = /^\s*\/slipway(?:\s+|$)/i;

// A target is a version (v7), a pull request (pr-12), a sha (7-40 hex) or a deployment id.
export function looksLikeTarget(word: string): boolean {
  return /^v\d+$/i.test(word) || /^pr-\d+$/i.test(word) || /^[0-9a-f]{7,40}$/i.test(word) || /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(word);
}

function splitFunctionAndTarget(words: string[]): { functionName?: string; target?: string } {
  const [first, second] = words;
  if (first === undefined) return {};
  if (second !== undefined) return { functionName: first, target: second };
  return looksLikeTarget(first) ? { target: first } : { functionName: first };
}

/** The command in a comment body, or null when the comment is not addressed to Slipway. */
export function parseCommand(body: string): ParsedCommand | null {
  const firstLine = body.split(/\r?\n/, 1)[0] ?? "";
  if (!prefix.test(firstLine)) return null;
  const text = firstLine.trim();
  const [rawName, ...rest] = firstLine.replace(prefix, "").trim().split(/\s+/).filter(Boolean);
  const name = (rawName ?? "help").toLowerCase();
  const words = rest.filter((w) => !w.startsWith("--"));
  const flags = new Set(rest.filter((w) => w.startsWith("--")).map((w) => w.toLowerCase()));
  switch (name) {
    case "rollback":
      return { text, command: { name: "rollback", ...splitFunctionAndTarget(words) } };
    case "promote":
      return { text, command: { name: "promote", ...splitFunctionAndTarget(words) } };
    case "redeploy":
      return { text, command: { name: "redeploy", ...(words[0] ? { functionName: words[0] } : {}), noCache: flags.has("--no-cache") } };
    case "unpin":
      return { text, command: { name: "unpin", ...(words[0] ? { functionName: words[0] } : {}) } };
    case "status":
      return { text, command: { name: "status" } };
    case "approve":
      return { text, command: { name: "approve" } };
    case "help":
      return { text, command: { name: "help" } };
    default:
      return { text, command: { name: "help", unknown: rawName } };
  }
}
