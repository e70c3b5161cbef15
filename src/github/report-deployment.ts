// Owns telling GitHub where one build stands, from the newest facts the reporting outbox
// holds for it (see report-outbox.ts): its check run (made on the first report, queued;
// taking over the commit's run that waited for approval, if any; then in progress with the live log, then
// success with every URL and its buttons, failure with the reason and annotations, or
// cancelled with a link to the newer build) and its GitHub Deployment of each alias. The
// deployment's row supplies the rest (version, timings, artifact, log tail). A build without
// a check run (an upload) gets only its GitHub Deployments, if it has any.
import type { DeploymentFacts } from "../store/github-reports.js";
import { deploymentUrl, functionUrl } from "../gateway/route-key.js";
import { listDeploymentTargets } from "../store/deployment-targets.js";
import { getBuildContext, setCheckRunId, type BuildContext } from "../store/deployments.js";
import { checkRunActions } from "./check-run-actions.js";
import { completeCheckRun, markCheckRunInProgress } from "./check-runs.js";
import { openBuildCheckRun } from "./commit-check-run.js";
import type { GitHubClient } from "./create-installation-client.js";
import { buildingOutput, cancelledOutput, checkRunName, failureOutput, queuedOutput, successOutput } from "./render-check-run.js";
import { reportDeploymentTargets, type ReportDependencies } from "./report-deployment-targets.js";

type Finished = { timings: Record<string, number>; log_tail: string | null; artifact_digest: string | null; artifact_size: string | null };

export async function sendDeploymentReport(deps: ReportDependencies, facts: DeploymentFacts): Promise<void> {
  const deployment = await getBuildContext(deps.db, facts.deploymentId);
  if (!deployment) return; // deleted since; nothing left to say
  const octokit = deps.github.forInstallation(deployment.installationId);
  const detailsUrl = `${deps.config.appUrl}/deployments/${deployment.deploymentId}`;
  // An upload (`slipway deploy`) has no commit on GitHub, so no check run.
  const checkRunId = deployment.checkRunId ?? (deployment.sourceDigest === null ? await openCheckRun(deps, octokit, deployment, detailsUrl) : null);
  const checkRun = checkRunId === null ? null : { owner: deployment.owner, repo: deployment.repo, checkRunId };
  const finished = async () =>
    (await deps.db.query<Finished>("select timings, log_tail, artifact_digest, artifact_size from deployments where id = $1", [deployment.deploymentId])).rows[0]!;

  // Environments first: whoever sees the check run complete sees them in their final state too.
  switch (facts.phase) {
    case "queued":
      return;
    case "building": {
      await reportDeploymentTargets(deps, deployment, "in_progress", undefined, { onlyNew: true });
      if (!checkRun) return;
      const actions = checkRunActions({ phase: "building", alias: "", serving: false });
      await markCheckRunInProgress(octokit, { ...checkRun, actions, startedAt: deployment.buildStartedAt }, buildingOutput(deployment.version, facts.log));
      return;
    }
    case "ready": {
      const activated = new Set(facts.activations.filter((a) => a.activated).map((a) => a.alias));
      await reportDeploymentTargets(deps, deployment, (alias) => (activated.has(alias) ? "success" : facts.activations.some((a) => a.alias === alias) ? "inactive" : null));
      if (!checkRun) return;
      const row = await finished();
      const primary = facts.activations.find((a) => a.alias === "production") ?? facts.activations[0];
      const links = [
        ...facts.activations.map((a) => ({ label: a.alias === "production" ? "production" : `preview (${a.alias})`, url: a.url })),
        { label: `v${deployment.version} (immutable)`, url: deploymentUrl(deps.config.publicUrl, deployment.deploymentId) },
      ];
      const notes = facts.activations.flatMap((a) => (a.note ? [a.note] : []));
      const actions = checkRunActions({ phase: "ready", alias: primary?.alias ?? "production", serving: primary?.activated ?? false });
      await completeCheckRun(
        octokit,
        { ...checkRun, detailsUrl, actions },
        "success",
        successOutput({
          version: deployment.version,
          url: primary?.url ?? functionUrl(deps.config.publicUrl, deployment.slug),
          activated: primary?.activated ?? false,
          ...(notes.length > 0 ? { activationNote: notes.join("\n") } : {}),
          timings: row.timings ?? {},
          digest: row.artifact_digest ?? "",
          size: Number(row.artifact_size ?? 0),
          log: row.log_tail ?? "",
          links,
        }),
      );
      return;
    }
    case "failed": {
      await reportDeploymentTargets(deps, deployment, "failure", facts.reason);
      if (!checkRun) return;
      const row = await finished();
      const output = failureOutput({
        version: deployment.version,
        reason: facts.afterReady ? `built, but could not be activated: ${facts.reason}` : facts.reason,
        failedCommand: facts.failedCommand,
        log: row.log_tail ?? "",
        timings: row.timings ?? {},
        annotations: facts.annotations,
      });
      await completeCheckRun(octokit, { ...checkRun, detailsUrl }, facts.conclusion, output);
      return;
    }
    case "cancelled": {
      await reportDeploymentTargets(deps, deployment, "inactive", `cancelled: ${facts.reason}`);
      if (!checkRun) return;
      const newerBuild = facts.supersededBy ? await getBuildContext(deps.db, facts.supersededBy) : null;
      const newer = newerBuild ? { version: newerBuild.version, url: `${deps.config.appUrl}/deployments/${newerBuild.deploymentId}` } : undefined;
      await completeCheckRun(octokit, { ...checkRun, detailsUrl: newer?.url ?? detailsUrl }, "cancelled", cancelledOutput({ version: deployment.version, reason: facts.reason, newer }));
    }
  }
}

/** The build's check run, queued with its Cancel button, recorded on the deployment. */
async function openCheckRun(deps: ReportDependencies, octokit: GitHubClient, deployment: BuildContext, detailsUrl: string): Promise<number> {
  const [target] = await listDeploymentTargets(deps.db, deployment.deploymentId);
  const checkRunId = await openBuildCheckRun(
    deps.db,
    octokit,
    {
      owner: deployment.owner,
      repo: deployment.repo,
      repositoryId: deployment.repositoryId,
      sha: deployment.commitSha,
      name: checkRunName(deployment.functionName),
      detailsUrl,
      deploymentId: deployment.deploymentId,
      actions: checkRunActions({ phase: "queued", alias: target?.alias ?? "production", serving: false }),
    },
    queuedOutput(deployment.version),
  );
  await setCheckRunId(deps.db, deployment.deploymentId, checkRunId);
  return checkRunId;
}
