import { spawn } from "node:child_process";

export interface RunGitOptions {
  /** Repository to operate on; passed as `--git-dir` when set. */
  gitDir?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Uint8Array;
  /** Exit codes that are not treated as failures (default: only 0). */
  okCodes?: number[];
}

export interface RunGitResult {
  stdout: Buffer;
  stderr: string;
  code: number;
}

/**
 * Runs `git` without a shell and collects its output. Rejects with the command line and
 * stderr when git exits with a code outside `okCodes`. Git never prompts (no terminal,
 * no askpass) and ignores the user's global/system configuration so results do not
 * depend on the host.
 */
export function runGit(args: readonly string[], options: RunGitOptions = {}): Promise<RunGitResult> {
  const fullArgs = options.gitDir ? ["--git-dir", options.gitDir, ...args] : [...args];
  return new Promise((resolve, reject) => {
    const child = spawn("git", fullArgs, {
      cwd: options.cwd,
      env: {
        ...process.env,
        GIT_TERMINAL_PROMPT: "0",
        GIT_ASKPASS: "",
        SSH_ASKPASS: "",
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
        ...options.env,
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      const result: RunGitResult = {
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err).toString("utf8"),
        code: code ?? -1,
      };
      const ok = options.okCodes ?? [0];
      if (ok.includes(result.code)) resolve(result);
      else reject(new Error(`git ${fullArgs.join(" ")} exited with ${result.code}: ${result.stderr.trim()}`));
    });
    child.stdin.on("error", () => {
      /* git may exit before reading all input; the exit code tells the story */
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}
