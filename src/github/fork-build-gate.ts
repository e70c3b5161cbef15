// Decides whether a pull request's head may be built: a branch of the repository itself
// always; a fork only once a user with write permission approved that exact commit. Pure.
export type ForkGate = { build: true } | { build: false; reason: string };

export function forkBuildGate(pr: { isFork: boolean; headSha: string; approvedSha: string | null }): ForkGate {
  if (!pr.isFork) return { build: true };
  if (pr.approvedSha === pr.headSha) return { build: true };
  return {
    build: false,
    reason: pr.approvedSha
      ? `a new commit (\`${pr.headSha.slice(0, 7)}\`) arrived after \`${pr.approvedSha.slice(0, 7)}\` was approved; each fork commit needs its own approval`
      : `this pull request comes from a fork, and fork code is built only after approval`,
  };
}

export const approvalInstructions =
  "A user with **write**, **maintain** or **admin** permission on this repository may approve this exact commit by commenting `/slipway approve` on the pull request or with the **Approve** button on this check run. The build will get no secret variables.";
