import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runGit, type RunGitOptions } from "./run-git.js";

const ZERO_SHA = "0000000000000000000000000000000000000000";

/** What a file in a `commit()` call becomes: text/bytes (mode 100644), a full spec, or null to delete. */
export type FileSpec =
  | string
  | Uint8Array
  | null
  | { content: string | Uint8Array; mode?: "100644" | "100755" | "120000" };

export interface GitIdentity {
  name: string;
  email: string;
  /** ISO 8601; defaults to "now" of the emulator clock. */
  date?: string;
}

export interface CommitInput {
  branch: string;
  files: Record<string, FileSpec>;
  message: string;
  author: GitIdentity;
  committer: GitIdentity;
  /** Branch/sha the new branch starts from when `branch` does not exist yet. */
  from?: string;
}

export interface CommitResult {
  sha: string;
  /** Previous head of the branch, or 40 zeros when the branch was created by this commit. */
  before: string;
  tree: string;
  parents: string[];
  added: string[];
  modified: string[];
  removed: string[];
}

export interface CommitInfo {
  sha: string;
  tree: string;
  parents: string[];
  author: { name: string; email: string; date: string };
  committer: { name: string; email: string; date: string };
  message: string;
}

export interface TreeEntry {
  mode: string;
  type: "blob" | "tree" | "commit";
  sha: string;
  /** Bytes for blobs, 0 otherwise. */
  size: number;
  /** Path relative to the repository root. */
  path: string;
  name: string;
}

export type DiffStatus = "added" | "removed" | "modified" | "renamed" | "copied" | "changed";

export interface DiffFile {
  filename: string;
  previous_filename?: string;
  status: DiffStatus;
  /** Blob sha on the head side (the base side for removed files). */
  sha: string;
  additions: number;
  deletions: number;
  changes: number;
  patch?: string;
  /** Raw `git diff --name-status` letter (A, M, D, R100, …). */
  gitStatus: string;
}

function assertSafeRevision(rev: string): void {
  if (rev.length === 0 || rev.startsWith("-") || /[\0\n\r]/.test(rev)) {
    throw new Error(`unsafe git revision ${JSON.stringify(rev)}`);
  }
}

function splitZ(buffer: Buffer): string[] {
  const parts = buffer.toString("utf8").split("\0");
  if (parts.at(-1) === "") parts.pop();
  return parts;
}

/**
 * A bare repository on disk, written with git plumbing (no work tree) and read with
 * `git cat-file`/`ls-tree`/`diff`. Writes are serialised per repository.
 */
export class BareRepository {
  /** The "no commit" sha GitHub uses for `before` of a new branch. */
  static readonly ZERO_SHA = ZERO_SHA;
  readonly gitDir: string;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(gitDir: string) {
    this.gitDir = gitDir;
  }

  static async init(gitDir: string, defaultBranch: string): Promise<BareRepository> {
    await runGit(["init", "--quiet", "--bare", `--initial-branch=${defaultBranch}`, gitDir]);
    const repo = new BareRepository(gitDir);
    await repo.git(["config", "uploadpack.allowAnySHA1InWant", "true"]);
    await repo.git(["config", "uploadpack.allowReachableSHA1InWant", "true"]);
    await repo.git(["config", "uploadpack.allowFilter", "true"]);
    await repo.git(["config", "http.receivepack", "false"]);
    await repo.git(["config", "http.uploadpack", "true"]);
    return repo;
  }

  git(args: readonly string[], options: Omit<RunGitOptions, "gitDir"> = {}) {
    return runGit(args, {
      ...options,
      gitDir: this.gitDir,
      env: { GIT_LITERAL_PATHSPECS: "1", ...options.env },
    });
  }

  /** Resolves a sha (full or abbreviated), branch, tag or full ref name to a commit sha. */
  async resolveCommit(ref: string): Promise<string | null> {
    if (!ref || ref.startsWith("-") || /[\0\n\r]/.test(ref)) return null;
    const candidates = /^[0-9a-f]{4,40}$/i.test(ref)
      ? [ref, `refs/heads/${ref}`, `refs/tags/${ref}`]
      : [`refs/heads/${ref}`, `refs/tags/${ref}`, ref];
    for (const candidate of candidates) {
      const { stdout, code } = await this.git(["rev-parse", "--verify", "--quiet", `${candidate}^{commit}`], {
        okCodes: [0, 1, 128],
      });
      if (code === 0) return stdout.toString("utf8").trim();
    }
    return null;
  }

  async branchHead(branch: string): Promise<string | null> {
    assertSafeRevision(branch);
    const { stdout, code } = await this.git(["rev-parse", "--verify", "--quiet", `refs/heads/${branch}^{commit}`], {
      okCodes: [0, 1, 128],
    });
    return code === 0 ? stdout.toString("utf8").trim() : null;
  }

  async branches(): Promise<Array<{ name: string; sha: string }>> {
    const { stdout } = await this.git(["for-each-ref", "--format=%(refname:lstrip=2)%00%(objectname)", "refs/heads"]);
    return stdout
      .toString("utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [name = "", sha = ""] = line.split("\0");
        return { name, sha };
      });
  }

  /** Moves a branch forward to a descendant of its head, as `git push` of a fast-forward does. */
  fastForward(branch: string, to: string): Promise<{ before: string; after: string }> {
    const run = this.queue.then(async () => {
      assertSafeRevision(branch);
      const before = await this.branchHead(branch);
      if (!before) throw new Error(`emulator: branch ${branch} does not exist`);
      const { code } = await this.git(["merge-base", "--is-ancestor", before, to], { okCodes: [0, 1] });
      if (code !== 0) throw new Error(`emulator: ${to} is not a fast-forward of ${branch}`);
      await this.git(["update-ref", `refs/heads/${branch}`, to, before]);
      return { before, after: to };
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  commit(input: CommitInput): Promise<CommitResult> {
    const run = this.queue.then(() => this.commitNow(input));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async commitNow(input: CommitInput): Promise<CommitResult> {
    assertSafeRevision(input.branch);
    const head = await this.branchHead(input.branch);
    let parent = head;
    if (!parent && input.from) {
      parent = await this.resolveCommit(input.from);
      if (!parent) throw new Error(`cannot branch ${input.branch} from unknown revision ${input.from}`);
    }
    if (!parent) {
      const { stdout } = await this.git(["symbolic-ref", "--quiet", "HEAD"], { okCodes: [0, 1] });
      const defaultRef = stdout.toString("utf8").trim();
      if (defaultRef && defaultRef !== `refs/heads/${input.branch}`) {
        parent = await this.resolveCommit(defaultRef);
      }
    }

    const scratch = await mkdtemp(join(tmpdir(), "gh-emulator-index-"));
    const env = { GIT_INDEX_FILE: join(scratch, "index") };
    try {
      if (parent) await this.git(["read-tree", parent], { env });
      else await this.git(["read-tree", "--empty"], { env });

      const indexLines: string[] = [];
      for (const [path, spec] of Object.entries(input.files)) {
        const clean = path.replace(/^\/+/, "");
        if (!clean || clean.split("/").some((part) => part === "" || part === "." || part === ".." || part === ".git")) {
          throw new Error(`invalid file path ${JSON.stringify(path)}`);
        }
        if (/[\0\n\t]/.test(clean)) throw new Error(`unsupported character in path ${JSON.stringify(path)}`);
        if (spec === null) {
          indexLines.push(`0 ${ZERO_SHA}\t${clean}`);
          continue;
        }
        const content = typeof spec === "string" || spec instanceof Uint8Array ? spec : spec.content;
        const mode = typeof spec === "string" || spec instanceof Uint8Array ? "100644" : (spec.mode ?? "100644");
        const { stdout } = await this.git(["hash-object", "-w", "--no-filters", "--stdin"], { input: content });
        indexLines.push(`${mode} ${stdout.toString("utf8").trim()}\t${clean}`);
      }
      if (indexLines.length > 0) {
        await this.git(["update-index", "--index-info"], { env, input: `${indexLines.join("\n")}\n` });
      }
      const tree = (await this.git(["write-tree"], { env })).stdout.toString("utf8").trim();
      const commitArgs = ["commit-tree", tree, ...(parent ? ["-p", parent] : []), "-F", "-"];
      const identityEnv: NodeJS.ProcessEnv = {
        GIT_AUTHOR_NAME: input.author.name,
        GIT_AUTHOR_EMAIL: input.author.email,
        GIT_COMMITTER_NAME: input.committer.name,
        GIT_COMMITTER_EMAIL: input.committer.email,
      };
      if (input.author.date) identityEnv.GIT_AUTHOR_DATE = input.author.date;
      if (input.committer.date) identityEnv.GIT_COMMITTER_DATE = input.committer.date;
      const message = input.message.endsWith("\n") ? input.message : `${input.message}\n`;
      const sha = (await this.git(commitArgs, { env: identityEnv, input: message })).stdout.toString("utf8").trim();
      await this.git(["update-ref", `refs/heads/${input.branch}`, sha, head ?? ZERO_SHA]);

      const diffArgs = parent
        ? ["diff-tree", "-r", "-z", "--no-renames", "--name-status", parent, sha]
        : ["diff-tree", "-r", "-z", "--no-renames", "--name-status", "--root", sha];
      const parts = splitZ((await this.git(diffArgs)).stdout);
      if (!parent) parts.shift(); // --root prints the commit id first
      const added: string[] = [];
      const modified: string[] = [];
      const removed: string[] = [];
      for (let i = 0; i + 1 < parts.length; i += 2) {
        const status = parts[i] ?? "";
        const file = parts[i + 1] ?? "";
        if (status === "A") added.push(file);
        else if (status === "D") removed.push(file);
        else modified.push(file);
      }
      return { sha, before: head ?? ZERO_SHA, tree, parents: parent ? [parent] : [], added, modified, removed };
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  async commitInfo(sha: string): Promise<CommitInfo> {
    assertSafeRevision(sha);
    const format = ["%H", "%T", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%B"].join("%x00");
    const { stdout } = await this.git(["log", "-1", `--format=${format}`, sha, "--"]);
    const [hash = "", tree = "", parents = "", an = "", ae = "", ad = "", cn = "", ce = "", cd = "", ...rest] = stdout
      .toString("utf8")
      .split("\0");
    return {
      sha: hash,
      tree,
      parents: parents.split(" ").filter(Boolean),
      author: { name: an, email: ae, date: toUtcSeconds(ad) },
      committer: { name: cn, email: ce, date: toUtcSeconds(cd) },
      message: rest.join("\0").replace(/\n+$/, ""),
    };
  }

  /** The tree entry at `path` in `commit` (root when path is empty), or null. */
  async entry(commit: string, path: string): Promise<TreeEntry | null> {
    assertSafeRevision(commit);
    const clean = path.replace(/^\/+|\/+$/g, "");
    if (clean === "") {
      const { stdout } = await this.git(["rev-parse", `${commit}^{tree}`]);
      return { mode: "040000", type: "tree", sha: stdout.toString("utf8").trim(), size: 0, path: "", name: "" };
    }
    const { stdout } = await this.git(["ls-tree", "-z", "-l", "--full-tree", commit, "--", clean]);
    const entries = parseLsTree(stdout);
    return entries.find((e) => e.path === clean) ?? null;
  }

  async listTree(commit: string, path: string): Promise<TreeEntry[]> {
    assertSafeRevision(commit);
    const clean = path.replace(/^\/+|\/+$/g, "");
    const treeish = clean === "" ? `${commit}^{tree}` : `${commit}:${clean}`;
    const { stdout } = await this.git(["ls-tree", "-z", "-l", treeish]);
    return parseLsTree(stdout).map((e) => ({ ...e, path: clean ? `${clean}/${e.path}` : e.path }));
  }

  async readBlob(sha: string): Promise<Buffer> {
    assertSafeRevision(sha);
    return (await this.git(["cat-file", "blob", sha])).stdout;
  }

  async mergeBase(a: string, b: string): Promise<string | null> {
    const { stdout, code } = await this.git(["merge-base", a, b], { okCodes: [0, 1] });
    return code === 0 ? stdout.toString("utf8").trim() : null;
  }

  /** Commits reachable from `head` but not from `base`, oldest first. */
  async commitsBetween(base: string, head: string): Promise<string[]> {
    const { stdout } = await this.git(["rev-list", "--reverse", `${base}..${head}`]);
    return stdout.toString("utf8").split("\n").filter(Boolean);
  }

  /** Files changed from `base` to `head` (two-point diff; pass the merge base for GitHub's three-dot compare). */
  async diff(base: string, head: string): Promise<DiffFile[]> {
    assertSafeRevision(base);
    assertSafeRevision(head);
    const raw = splitZ((await this.git(["diff", "--raw", "-z", "-M", "--abbrev=40", base, head])).stdout);
    const files: DiffFile[] = [];
    for (let i = 0; i < raw.length; ) {
      const meta = raw[i++] ?? "";
      const [, , oldSha = "", newSha = "", gitStatus = ""] = meta.replace(/^:/, "").split(" ");
      const letter = gitStatus.charAt(0);
      const first = raw[i++] ?? "";
      const second = letter === "R" || letter === "C" ? (raw[i++] ?? "") : undefined;
      const status: DiffStatus =
        letter === "A"
          ? "added"
          : letter === "D"
            ? "removed"
            : letter === "R"
              ? "renamed"
              : letter === "C"
                ? "copied"
                : letter === "M"
                  ? "modified"
                  : "changed";
      files.push({
        filename: second ?? first,
        ...(second !== undefined ? { previous_filename: first } : {}),
        status,
        sha: letter === "D" ? oldSha : newSha,
        additions: 0,
        deletions: 0,
        changes: 0,
        gitStatus,
      });
    }
    const numstat = splitZ((await this.git(["diff", "--numstat", "-z", "-M", base, head])).stdout);
    let index = 0;
    for (let i = 0; i < numstat.length; ) {
      const line = numstat[i++] ?? "";
      const [adds = "0", dels = "0", name = ""] = line.split("\t");
      if (name === "") i += 2; // rename: old and new names follow as separate fields
      const file = files[index++];
      if (!file) break;
      file.additions = adds === "-" ? 0 : Number(adds);
      file.deletions = dels === "-" ? 0 : Number(dels);
      file.changes = file.additions + file.deletions;
    }
    const patchText = (await this.git(["diff", "-M", "--no-color", base, head])).stdout.toString("utf8");
    const chunks = patchText.split(/^diff --git /m).slice(1);
    chunks.forEach((chunk, n) => {
      const file = files[n];
      if (!file) return;
      const hunkStart = chunk.indexOf("\n@@");
      if (hunkStart >= 0) file.patch = chunk.slice(hunkStart + 1).replace(/\n$/, "");
    });
    return files;
  }

  async destroy(): Promise<void> {
    await rm(this.gitDir, { recursive: true, force: true });
  }
}

function parseLsTree(stdout: Buffer): TreeEntry[] {
  return splitZ(stdout).map((record) => {
    const tab = record.indexOf("\t");
    const [mode = "", type = "blob", sha = "", size = "-"] = record.slice(0, tab).split(/ +/);
    const path = record.slice(tab + 1);
    return {
      mode,
      type: type as TreeEntry["type"],
      sha,
      size: size === "-" ? 0 : Number(size),
      path,
      name: path.slice(path.lastIndexOf("/") + 1),
    };
  });
}

function toUtcSeconds(isoWithOffset: string): string {
  const date = new Date(isoWithOffset);
  return Number.isNaN(date.getTime()) ? isoWithOffset : date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
