// Owns how the CLI writes: results on stdout (as JSON with --json), progress and errors on
// stderr, so `slipway … --json | jq` always reads one JSON document.
export type Output = { out: (text: string) => void; err: (text: string) => void };

export const processOutput: Output = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) };

/** A plain-text table: one header line, columns padded to their widest cell. */
export function formatTable(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = rows.map((row) => columns.map((c) => String(row[c] ?? "–")));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(columns), ...cells.map(line)].join("\n");
}
