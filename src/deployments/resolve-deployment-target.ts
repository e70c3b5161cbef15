// Decides which deployment a rollback or promote means. Pure: the function's deployments
// and what serves now in, the chosen deployment or a reason a person can act on out.
/** `pruned`: the retention policy removed its build, so it cannot serve again. */
export type DeploymentSummary = { id: string; version: number; status: string; commitSha: string; pruned: boolean };

export type Resolution = { ok: true; deployment: DeploymentSummary } | { ok: false; reason: string };

function find(deployments: DeploymentSummary[], target: string): DeploymentSummary | { reason: string } {
  const version = /^v(\d+)$/i.exec(target);
  if (version) {
    return deployments.find((d) => d.version === Number(version[1])) ?? { reason: `there is no v${version[1]}` };
  }
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(target)) {
    return deployments.find((d) => d.id === target.toLowerCase()) ?? { reason: `there is no deployment ${target}` };
  }
  if (/^[0-9a-f]{7,40}$/i.test(target)) {
    const matches = deployments.filter((d) => d.commitSha.startsWith(target.toLowerCase())).sort((a, b) => b.version - a.version);
    return matches.find((d) => d.status === "ready") ?? matches[0] ?? { reason: `no deployment was built from commit ${target}` };
  }
  return { reason: `'${target}' is not a version (v7), a commit sha or a deployment id` };
}

export const prunedReason = (version: number) =>
  `v${version}'s build was removed by the retention policy (SLIPWAY_KEEP_DEPLOYMENTS); redeploy its commit to serve it again`;

const canServe = (d: DeploymentSummary) => d.status === "ready" && !d.pruned;

function mustBeServable(deployment: DeploymentSummary, currentId: string | null): Resolution {
  if (deployment.status !== "ready") {
    return { ok: false, reason: `v${deployment.version} is ${deployment.status}; only a ready deployment can serve` };
  }
  if (deployment.id === currentId) return { ok: false, reason: `v${deployment.version} is already serving` };
  if (deployment.pruned) return { ok: false, reason: prunedReason(deployment.version) };
  return { ok: true, deployment };
}

/** Default: the newest ready deployment older than the one serving now. */
export function resolveRollbackTarget(deployments: DeploymentSummary[], current: DeploymentSummary | null, target?: string): Resolution {
  if (target) {
    const found = find(deployments, target);
    return "reason" in found ? { ok: false, reason: found.reason } : mustBeServable(found, current?.id ?? null);
  }
  if (!current) return { ok: false, reason: "nothing serves production yet, so there is nothing to roll back from" };
  const previous = deployments
    .filter((d) => canServe(d) && d.version < current.version)
    .sort((a, b) => b.version - a.version)[0];
  return previous ? { ok: true, deployment: previous } : { ok: false, reason: `there is no ready deployment older than v${current.version}` };
}

/** Default: the newest ready deployment, if it is not already serving. */
export function resolvePromoteTarget(deployments: DeploymentSummary[], current: DeploymentSummary | null, target?: string): Resolution {
  if (target) {
    const found = find(deployments, target);
    return "reason" in found ? { ok: false, reason: found.reason } : mustBeServable(found, current?.id ?? null);
  }
  const newest = deployments.filter(canServe).sort((a, b) => b.version - a.version)[0];
  if (!newest) return { ok: false, reason: "there is no ready deployment to promote" };
  return mustBeServable(newest, current?.id ?? null);
}
