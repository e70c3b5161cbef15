/**
 * Commits written through an emulator's `commit()`, keyed by repository id and sha, so the
 * standalone webhook payload builders (pushPayload) can fill in real file lists, trees,
 * authors and intermediate commits without a handle on the emulator. Process-wide.
 */
export interface LoggedCommit {
  sha: string;
  tree: string;
  parents: string[];
  message: string;
  timestamp: string;
  author: { name: string; email: string };
  committer: { name: string; email: string };
  added: string[];
  modified: string[];
  removed: string[];
}

const commits = new Map<string, LoggedCommit>();

export const emulatorCommitLog = {
  record(repoId: number, commit: LoggedCommit): void {
    commits.set(`${repoId}:${commit.sha}`, commit);
  },
  get(repoId: number, sha: string): LoggedCommit | undefined {
    return commits.get(`${repoId}:${sha}`);
  },
  forget(repoId: number): void {
    for (const key of commits.keys()) if (key.startsWith(`${repoId}:`)) commits.delete(key);
  },
};
