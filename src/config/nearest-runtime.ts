// Decides which Slipway runtime an Appwrite runtime name (`node-18.0`, `python-3.12`,
// `rust-1.83`) runs on: one of the same language (the name before the first '-'), the
// nearest version, a newer one when two are as near. Pure.
export type RuntimeChoice =
  | { ok: true; runtime: string; sameVersion: boolean }
  | { ok: false; message: string };

function splitRuntime(name: string): { language: string; version: number[] } | null {
  const match = /^([a-z][a-z0-9]*)-(\d+(?:\.\d+)*)$/i.exec(name);
  if (!match) return null;
  return { language: match[1]!.toLowerCase(), version: match[2]!.split(".").map(Number) };
}

function versionsEqual(a: number[], b: number[]): boolean {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return false;
  return true;
}

// Major versions weigh more than any minor difference: node-18 is nearer node-20 than node-21.9 is to node-23.
function distance(a: number[], b: number[]): number {
  return Math.abs((a[0] ?? 0) - (b[0] ?? 0)) * 1000 + Math.abs((a[1] ?? 0) - (b[1] ?? 0));
}

export function nearestRuntime(appwriteRuntime: string, available: readonly string[]): RuntimeChoice {
  const wanted = splitRuntime(appwriteRuntime);
  if (!wanted) return { ok: false, message: `'${appwriteRuntime}' is not an Appwrite runtime name such as node-20.0; use one of: ${available.join(", ")}` };
  const candidates = available
    .map((name) => ({ name, parts: splitRuntime(name) }))
    .filter((c): c is { name: string; parts: { language: string; version: number[] } } => c.parts?.language === wanted.language);
  if (candidates.length === 0) {
    return { ok: false, message: `Slipway has no ${wanted.language} runtime for '${appwriteRuntime}'; its runtimes are ${available.join(", ")} (an operator adds more with SLIPWAY_RUNTIMES_FILE)` };
  }
  candidates.sort((x, y) => {
    const byDistance = distance(x.parts.version, wanted.version) - distance(y.parts.version, wanted.version);
    return byDistance !== 0 ? byDistance : distance(y.parts.version, [0]) - distance(x.parts.version, [0]);
  });
  const best = candidates[0]!;
  return { ok: true, runtime: best.name, sameVersion: versionsEqual(best.parts.version, wanted.version) };
}
