// Owns asking GitHub what changed between two commits (the compare API, which diffs from
// their merge base). null means "unknown": GitHub could not compare them, or the diff is
// larger than the compare API lists (300 files), and then every function builds.
import type { Octokit } from "@octokit/rest";
import type { RepoRef } from "./check-runs.js";

export type Comparison = { paths: string[] | null; headMessage: string | null };
const compareFileLimit = 300;

export async function compareCommits(octokit: Octokit, target: RepoRef & { base: string; head: string }): Promise<Comparison> {
  try {
    const response = await octokit.rest.repos.compareCommitsWithBasehead({
      owner: target.owner,
      repo: target.repo,
      basehead: `${target.base}...${target.head}`,
      per_page: 100,
    });
    const files = response.data.files ?? [];
    const paths = files.length >= compareFileLimit ? null : files.flatMap((f) => (f.previous_filename ? [f.filename, f.previous_filename] : [f.filename]));
    const last = response.data.commits.at(-1);
    return { paths, headMessage: last && last.sha === target.head ? last.commit.message : null };
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status === 404 || status === 422) return { paths: null, headMessage: null };
    throw error;
  }
}
