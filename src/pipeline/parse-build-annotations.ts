// Turns compiler, linter and interpreter errors in a build log into check-run annotations
// at paths that exist in the repository: tsc (`file(line,col): error TSnnnn: …` and the
// pretty `file:line:col - error TSnnnn: …`), cargo (`error[Ennnn]: …` then `--> file:line:col`),
// ESLint (stylish: a file line then `  line:col  error  message  rule`; unix and gcc-style
// `file:line:col: message`) and Python tracebacks (the deepest `File "…", line N` frame that
// is the function's own code). Pure.
//
// The build sees the function's files under other folders than the repository does; each
// runtime's layout (from runtimes/<name>/helpers/build.sh) says which, so a path is mapped
// back by data, not by cases. Toolchain and dependency files are never annotated.
import { posix } from "node:path";
import { missingHeaderAdvice } from "./diagnose-missing-tools.js";

export type BuildAnnotation = {
  path: string;
  start_line: number;
  end_line: number;
  annotation_level: "failure" | "warning";
  title: string;
  message: string;
};

export type BuildAnnotationContext = {
  /** The runtime that built the log (slipway.yml's `runtime`); it says where the build put the function. */
  runtime?: string;
  /**
   * The function's files, repository-relative. When given, only these are annotated, and a
   * path under a folder no layout names is matched to the file it ends with.
   */
  files?: readonly string[];
};

type BuildLayout = {
  /** Where the compiler runs: relative paths in its output are relative to this. */
  workingDirectory: string;
  /** Other folders a tool runs in, tried in turn: node-gyp's make prints `../addon.cc` from build/. */
  otherWorkingDirectories?: string[];
  /** Folders that hold a copy of the function's files while it is built or served. */
  functionFolders: string[];
  /** Folders of the image's own code and toolchains, never the function's. */
  toolchainFolders: string[];
  /** Folders inside the function that hold installed dependencies. */
  dependencyFolders: string[];
};

// The open-runtimes v5 contract every runtime follows: the executor copies the function to
// /mnt/code, helpers/build.sh copies it to /usr/local/build and runs the build commands
// there, and the artifact is unpacked in /usr/local/server/src/function to be served.
const openRuntimesLayout: BuildLayout = {
  workingDirectory: "/usr/local/build",
  otherWorkingDirectories: ["/usr/local/build/build"],
  functionFolders: ["/usr/local/build", "/mnt/code", "/usr/local/server/src/function"],
  toolchainFolders: ["/usr/local/server", "/usr/lib", "/usr/local/lib", "/usr/include", "/usr/share", "/root", "/rustc", "/mnt/cache", "/tmp"],
  dependencyFolders: ["node_modules", "site-packages", "dist-packages"],
};

const buildLayouts = new Map<string, BuildLayout>([
  // The function's virtualenv is built inside its folder (lib.sh's SLIPWAY_VENV_NAME).
  ["python-3.13", { ...openRuntimesLayout, dependencyFolders: [...openRuntimesLayout.dependencyFolders, "runtime-env"] }],
  // cargo compiles in the runtime's workspace, whose member src/function is the crate,
  // so it prints `--> src/function/src/lib.rs:3:5`; `src/main.rs` is the runtime's own.
  ["rust-1.85", { ...openRuntimesLayout, workingDirectory: "/usr/local/server" }],
]);

export const maxAnnotationsPerRequest = 50;
const ansiPattern = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

function isUnder(path: string, folder: string): boolean {
  return path === folder || path.startsWith(`${folder}/`);
}

/** A path as the build printed it, as a path in the repository; null when it is not the function's file. */
function createPathMapper(root: string, context: BuildAnnotationContext): (file: string) => string | null {
  const layout = buildLayouts.get(context.runtime ?? "") ?? openRuntimesLayout;
  const base = posix.normalize(root || ".").replace(/\/+$/, "");
  const rootPrefix = base === "." ? "" : `${base}/`;
  const functionFiles = context.files
    ? new Set(context.files.filter((file) => file.startsWith(rootPrefix)).map((file) => file.slice(rootPrefix.length)))
    : null;
  const longestFirst = functionFiles ? [...functionFiles].sort((a, b) => b.length - a.length) : [];

  const functionRelative = (absolute: string): string | null => {
    const folder = layout.functionFolders.find((candidate) => isUnder(absolute, candidate));
    if (folder) return posix.relative(folder, absolute);
    if (layout.toolchainFolders.some((candidate) => isUnder(absolute, candidate))) return null;
    // A folder no layout names (an operator's own image): the function's file it ends with.
    return longestFirst.find((file) => absolute.endsWith(`/${file}`)) ?? null;
  };

  return (file) => {
    const trimmed = file.trim();
    if (trimmed === "" || /[<>]/.test(trimmed)) return null; // `<string>`, `<frozen …>`: no file
    const others = trimmed.startsWith("../") ? (layout.otherWorkingDirectories ?? []) : [];
    for (const directory of [layout.workingDirectory, ...others]) {
      const relative = functionRelative(posix.resolve(directory, trimmed));
      if (!relative || relative.startsWith("../")) continue;
      if (relative.split("/").some((part) => layout.dependencyFolders.includes(part))) return null;
      if (functionFiles && !functionFiles.has(relative)) continue;
      return `${rootPrefix}${relative}`;
    }
    return null;
  };
}

type Add = (file: string, line: number, level: BuildAnnotation["annotation_level"], title: string, message: string) => void;

// Each format reads from line i and returns the last line it used, or -1 when line i is not its.
type Format = (lines: string[], i: number, add: Add) => number;

const tscError: Format = (lines, i, add) => {
  const line = lines[i]!;
  const tsc = /^(.+?)\((\d+),(\d+)\): (error|warning) (TS\d+): (.*)$/.exec(line) ?? /^(.+?):(\d+):(\d+) - (error|warning) (TS\d+): (.*)$/.exec(line);
  if (!tsc) return -1;
  add(tsc[1]!, Number(tsc[2]), tsc[4] === "error" ? "failure" : "warning", `tsc ${tsc[5]}`, tsc[6]!);
  return i;
};

const cargoDiagnostic: Format = (lines, i, add) => {
  const cargo = /^(error|warning)(\[E\d+\])?: (.+)$/.exec(lines[i]!);
  if (!cargo) return -1;
  // The location follows within a few lines: `  --> src/lib.rs:3:5`.
  for (let j = i + 1; j < Math.min(lines.length, i + 6); j++) {
    const at = /^\s*--> (.+?):(\d+):(\d+)$/.exec(lines[j]!);
    if (at) {
      add(at[1]!, Number(at[2]), cargo[1] === "error" ? "failure" : "warning", `cargo ${cargo[1]}${cargo[2] ?? ""}`, cargo[3]!);
      return j;
    }
    if (/^(error|warning)/.test(lines[j]!)) break;
  }
  return i;
};

// ESLint's default formatter: the file alone on a line, then one aligned line per problem.
const eslintStylish: Format = (lines, i, add) => {
  const file = /^(\S+\.\w+)$/.exec(lines[i]!);
  const problem = /^\s+(\d+):(\d+)\s+(error|warning)\s+(.+?)(?:\s{2,}(\S+))?\s*$/;
  if (!file || !problem.test(lines[i + 1] ?? "")) return -1;
  let j = i + 1;
  for (let at = problem.exec(lines[j] ?? ""); at; at = problem.exec(lines[++j] ?? "")) {
    add(file[1]!, Number(at[1]), at[3] === "error" ? "failure" : "warning", at[5] ? `eslint ${at[5]}` : "eslint", at[4]!);
  }
  return j - 1;
};

// `file:line:col: message`: ESLint's unix formatter (`… [Error/rule]`) and gcc-style tools.
const fileLineColumn: Format = (lines, i, add) => {
  const at = /^([^\s:'"()]+\.\w+):(\d+):(\d+): (?:(error|warning|note): )?(.+)$/.exec(lines[i]!);
  if (!at || at[4] === "note") return -1;
  const eslint = /^(.*?) \[(Error|Warning)\/(\S+)\]$/.exec(at[5]!);
  if (eslint) add(at[1]!, Number(at[2]), eslint[2] === "Error" ? "failure" : "warning", `eslint ${eslint[3]}`, eslint[1]!);
  else add(at[1]!, Number(at[2]), at[4] === "warning" ? "warning" : "failure", at[4] ?? "error", at[5]!);
  return i;
};

// `Traceback (most recent call last):` then frames; a SyntaxError from `python main.py` or
// py_compile prints its one frame without the header. The error is the first line not indented.
function pythonTraceback(mapPath: (file: string) => string | null): Format {
  const frame = /^\s+File "(.+?)", line (\d+)/;
  return (lines, i, add) => {
    if (!/^Traceback \(most recent call last\):/.test(lines[i]!.trim()) && !frame.test(lines[i]!)) return -1;
    let deepest: { file: string; line: number } | null = null;
    let j = frame.test(lines[i]!) ? i : i + 1;
    for (; j < lines.length; j++) {
      const at = frame.exec(lines[j]!);
      if (at && mapPath(at[1]!)) deepest = { file: at[1]!, line: Number(at[2]) };
      if (!/^\s/.test(lines[j]!)) break; // frames and their source lines are indented
    }
    const error = (lines[j] ?? "").trim();
    if (deepest && error) add(deepest.file, deepest.line, "failure", "Python traceback", error);
    return j;
  };
}

export function parseBuildAnnotations(log: string, root = ".", context: BuildAnnotationContext = {}): BuildAnnotation[] {
  const lines = log.replace(ansiPattern, "").replace(/\r(?!\n)/g, "\n").split(/\r?\n/);
  const mapPath = createPathMapper(root, context);
  const found: BuildAnnotation[] = [];
  const seen = new Set<string>();
  const add: Add = (file, line, level, title, message) => {
    const path = mapPath(file);
    if (!path || !Number.isFinite(line) || line < 1) return;
    const key = `${path}:${line}:${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    // `#include <yaml.h>` that the compiler did not find: say which package to add.
    const advice = missingHeaderAdvice(message);
    found.push({ path, start_line: line, end_line: line, annotation_level: level, title, message: (advice ? `${message}\n${advice}` : message).slice(0, 64 * 1024) });
  };

  const formats: Format[] = [tscError, cargoDiagnostic, eslintStylish, fileLineColumn, pythonTraceback(mapPath)];
  for (let i = 0; i < lines.length; i++) {
    for (const format of formats) {
      const last = format(lines, i, add);
      if (last >= 0) {
        i = last;
        break;
      }
    }
  }
  return found.slice(0, maxAnnotationsPerRequest);
}
