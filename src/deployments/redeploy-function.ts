// Owns `redeploy`: build the commit production serves again, as a new version, optionally
// without the build cache. It goes through the same queue, check run and activation as a
// push (so a pinned production stays pinned).
import { randomUUID } from "node:crypto";
import type { Queue } from "bullmq";
import { createCheckRun } from "../github/check-runs.js";
import type { InstallationClients } from "../github/create-installation-client.js";
import { checkRunName, queuedOutput } from "../github/render-check-run.js";
import { enqueueBuild, type BuildJobData } from "../queue/build-queue.js";
import type { Queryable } from "../store/create-database.js";
import { createQueuedDeployment, setCheckRunId, type DeploymentCreatedVia } from "../store/deployments.js";
import { DeploymentActionError } from "./deployment-action-error.js";
import { loadFunctionState } from "./load-function-state.js";

export async function redeployFunction(
  deps: { db: Queryable; queue: Queue<BuildJobData>; github: InstallationClients },
  request: { functionId: string; noCache: boolean; actor: string; via: DeploymentCreatedVia },
): Promise<{ functionName: string; deploymentId: string; version: number; commitSha: string }> {
  const state = await loadFunctionState(deps.db, request.functionId);
  const source = state.production ?? [...state.deployments].reverse().find((d) => d.status === "ready");
  if (!source) throw new DeploymentActionError(`${state.name} has no deployment to redeploy; push a commit first`);
  const fn = await deps.db.query(
    `select f.runtime, f.entrypoint, f.commands, f.root, f.branch from functions f where f.id = $1`,
    [state.id],
  );
  const settings = fn.rows[0] as { runtime: string; entrypoint: string; commands: string; root: string; branch: string };
  // An uploaded version (`slipway deploy`) is built again from its kept archive, laid out as it was.
  const uploaded = (
    await deps.db.query<{ source_digest: string | null; runtime: string; entrypoint: string; commands: string; root: string }>(
      "select source_digest, runtime, entrypoint, commands, root from deployments where id = $1",
      [source.id],
    )
  ).rows[0];
  const build = uploaded?.source_digest ? uploaded : settings;
  const deployment = await createQueuedDeployment(deps.db, {
    functionId: state.id,
    commitSha: source.commitSha,
    ref: `refs/heads/${settings.branch}`,
    trigger: request.noCache ? "redeploy-no-cache" : "redeploy",
    deliveryId: `redeploy-${randomUUID()}`,
    runtime: build.runtime,
    entrypoint: build.entrypoint,
    commands: build.commands,
    root: build.root,
    ...(uploaded?.source_digest ? { sourceDigest: uploaded.source_digest } : {}),
    // Its activation is audited under who asked, not as a push.
    createdBy: request.actor,
    createdVia: request.via,
  });
  if (request.noCache) await deps.db.query("update deployments set use_cache = false where id = $1", [deployment.id]);
  if (uploaded?.source_digest) {
    // No commit, so nothing to hang a check run on: follow it with `slipway logs`.
    await enqueueBuild(deps.queue, deployment.id);
    return { functionName: state.name, deploymentId: deployment.id, version: deployment.version, commitSha: source.commitSha };
  }
  const octokit = deps.github.forInstallation(state.installationId);
  const checkRunId = await createCheckRun(
    octokit,
    { owner: state.owner, repo: state.repo, sha: source.commitSha, name: checkRunName(state.name), externalId: deployment.id },
    { status: "queued" },
    queuedOutput(deployment.version),
  );
  await setCheckRunId(deps.db, deployment.id, checkRunId);
  await enqueueBuild(deps.queue, deployment.id);
  return { functionName: state.name, deploymentId: deployment.id, version: deployment.version, commitSha: source.commitSha };
}
