// Turns compiler and interpreter errors in a build log into check-run annotations: tsc
// (`file(line,col): error TSnnnn: …` and the pretty `file:line:col - error TSnnnn: …`),
// cargo (`error[Ennnn]: …` then `--> file:line:col`) and Python tracebacks (the last
// `File "…", line N` frame that is the function's own code). Pure. Paths are made
// relative to the repository (the build sees the function's root at /mnt/code).
export type BuildAnnotation = {
  path: string;
  start_line: number;
  end_line: number;
  annotation_level: "failure" | "warning";
  title: string;
  message: string;
};

export const maxAnnotationsPerRequest = 50;
const ansiPattern = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

function repositoryPath(file: string, root: string): string | null {
  let path = file.trim().replace(/^\.\//, "");
  if (path.startsWith("/mnt/code/")) path = path.slice("/mnt/code/".length);
  else if (path.startsWith("/")) return null; // a library or toolchain file, not the user's code
  if (path.split("/").includes("..") || path.includes("node_modules/") || path.startsWith("site-packages/")) return null;
  return root === "." || root === "" ? path : `${root.replace(/\/+$/, "")}/${path}`;
}

export function parseBuildAnnotations(log: string, root = "."): BuildAnnotation[] {
  const lines = log.replace(ansiPattern, "").replace(/\r(?!\n)/g, "\n").split(/\r?\n/);
  const found: BuildAnnotation[] = [];
  const seen = new Set<string>();
  const add = (file: string, line: number, level: "failure" | "warning", title: string, message: string) => {
    const path = repositoryPath(file, root);
    if (!path || !Number.isFinite(line) || line < 1) return;
    const key = `${path}:${line}:${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    found.push({ path, start_line: line, end_line: line, annotation_level: level, title, message: message.slice(0, 64 * 1024) });
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const tsc = /^(.+?)\((\d+),(\d+)\): (error|warning) (TS\d+): (.*)$/.exec(line) ?? /^(.+?):(\d+):(\d+) - (error|warning) (TS\d+): (.*)$/.exec(line);
    if (tsc) {
      add(tsc[1]!, Number(tsc[2]), tsc[4] === "error" ? "failure" : "warning", `tsc ${tsc[5]}`, tsc[6]!);
      continue;
    }
    const cargo = /^(error|warning)(\[E\d+\])?: (.+)$/.exec(line);
    if (cargo) {
      // The location follows within a few lines: `  --> src/lib.rs:3:5`.
      for (let j = i + 1; j < Math.min(lines.length, i + 6); j++) {
        const at = /^\s*--> (.+?):(\d+):(\d+)$/.exec(lines[j]!);
        if (at) {
          add(at[1]!, Number(at[2]), cargo[1] === "error" ? "failure" : "warning", `cargo ${cargo[1]}${cargo[2] ?? ""}`, cargo[3]!);
          break;
        }
        if (/^(error|warning)/.test(lines[j]!)) break;
      }
      continue;
    }
    if (/^Traceback \(most recent call last\):/.test(line.trim())) {
      let frame: { file: string; line: number } | null = null;
      let j = i + 1;
      for (; j < lines.length; j++) {
        const at = /^\s+File "(.+?)", line (\d+)/.exec(lines[j]!);
        if (at) {
          if (repositoryPath(at[1]!, root)) frame = { file: at[1]!, line: Number(at[2]) };
          continue;
        }
        if (/^\s/.test(lines[j]!)) continue; // the source line under a frame
        break;
      }
      const error = (lines[j] ?? "").trim();
      if (frame && error) add(frame.file, frame.line, "failure", "Python traceback", error);
      i = j;
    }
  }
  return found.slice(0, maxAnnotationsPerRequest);
}
