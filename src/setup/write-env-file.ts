// Owns writing settings into a .env file: each key is set in place (or added), every other
// line is kept as it was, and the file is readable by its owner only (mode 0600), since it
// holds secrets. Written to a temporary file first and renamed, so a crash leaves the old
// file or the new one, never half of one.
import { chmod, readFile, rename, writeFile } from "node:fs/promises";

function quote(value: string): string {
  return /^[A-Za-z0-9_./:@+-]*$/.test(value) ? value : `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\$/g, "\\$").replace(/`/g, "\\`")}"`;
}

export async function writeEnvFile(path: string, values: Record<string, string>): Promise<void> {
  let lines: string[] = [];
  try {
    lines = (await readFile(path, "utf8")).split("\n");
    if (lines.at(-1) === "") lines.pop();
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOENT") throw error;
  }
  const pending = new Map(Object.entries(values));
  lines = lines.map((line) => {
    const key = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line)?.[1];
    if (!key || !pending.has(key)) return line;
    const value = pending.get(key)!;
    pending.delete(key);
    return `${key}=${quote(value)}`;
  });
  for (const [key, value] of pending) lines.push(`${key}=${quote(value)}`);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${lines.join("\n")}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, path);
}
