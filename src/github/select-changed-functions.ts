// Decides, per function, whether a commit changed a path the function watches (its
// `watch:` globs; by default its root and slipway.yml). Pure. `changedPaths` null means
// "unknown" (no earlier deployment, an unreachable base, or a diff too large for the
// compare API), and then everything builds.
import picomatch from "picomatch";

export type WatchedFunction = { id: string; watch: string[] };
export type ChangeDecision = { build: true } | { build: false; reason: string };

function matches(path: string, glob: string): boolean {
  if (glob === path || glob === "**") return true;
  // `dir/**` means everything under dir, dotfiles included (a plain glob skips those).
  if (glob.endsWith("/**") && !/[*?[{]/.test(glob.slice(0, -3))) return path.startsWith(glob.slice(0, -2));
  // picomatch, not node:path matchesGlob: that one is experimental and warns on stderr.
  return picomatch.isMatch(path, glob);
}

export function watchesAny(watch: readonly string[], paths: readonly string[]): boolean {
  return paths.some((path) => watch.some((glob) => matches(path, glob)));
}

export function decideByChangedPaths(fn: WatchedFunction, changedPaths: readonly string[] | null, comparedWith: string | null): ChangeDecision {
  if (changedPaths === null) return { build: true };
  if (watchesAny(fn.watch, changedPaths)) return { build: true };
  const against = comparedWith ? ` since \`${comparedWith.slice(0, 7)}\`` : "";
  return {
    build: false,
    reason: `no path it watches changed${against} (watch: ${fn.watch.map((g) => `\`${g}\``).join(", ")}; ${changedPaths.length} file${changedPaths.length === 1 ? "" : "s"} changed)`,
  };
}
