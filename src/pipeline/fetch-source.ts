// Owns getting a commit's source onto the worker: exactly that commit, shallow, with the
// installation token passed to git through its environment as an http.extraHeader, so it
// is never in a URL, an argument list (visible in ps) or a log.
import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { promisify } from "node:util";

const run = promisify(execFile);

export class SourceFetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SourceFetchError";
  }
}

export async function fetchSource(options: { cloneUrl: string; sha: string; token: string; directory: string }): Promise<void> {
  const { cloneUrl, sha, token, directory } = options;
  if (!/^[0-9a-f]{40}$/.test(sha)) throw new SourceFetchError(`not a commit sha: ${sha}`);
  await mkdir(directory, { recursive: true });
  const basic = Buffer.from(`x-access-token:${token}`).toString("base64");
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: directory,
    GIT_TERMINAL_PROMPT: "0",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_COUNT: "1",
    GIT_CONFIG_KEY_0: "http.extraHeader",
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
    ...(process.env.GIT_SSL_CAINFO ? { GIT_SSL_CAINFO: process.env.GIT_SSL_CAINFO } : {}),
  };
  const git = async (...args: string[]) => {
    try {
      await run("git", args, { cwd: directory, env, maxBuffer: 16 * 1024 * 1024 });
    } catch (error) {
      const stderr = String((error as { stderr?: string }).stderr ?? "").replaceAll(token, "[redacted]").replaceAll(basic, "[redacted]");
      throw new SourceFetchError(`git ${args[0]} failed: ${stderr.trim().split("\n").slice(-3).join(" ")}`);
    }
  };
  await git("init", "--quiet");
  await git("fetch", "--quiet", "--depth", "1", "--no-tags", cloneUrl, sha);
  await git("checkout", "--quiet", "--detach", "FETCH_HEAD");
}
