// Owns the story of one push webhook: record it, read slipway.yml at the commit, and for
// every function that deploys from the pushed branch, record a queued deployment, show a
// queued check run and enqueue its build. It answers quickly; the work is the worker's.
import type { Queue } from "bullmq";
import type { Logger } from "pino";
import { createQueuedDeployment, setCheckRunId } from "../store/deployments.js";
import { functionSlug, upsertFunction } from "../store/functions.js";
import { upsertRepository, type RepositoryRecord } from "../store/repositories.js";
import { isDeliveryProcessed, markDeliveryProcessed } from "../store/webhook-deliveries.js";
import type { Database } from "../store/create-database.js";
import { enqueueBuild, type BuildJobData } from "../queue/build-queue.js";
import type { Runtime } from "../runtimes/runtime-catalog.js";
import { createCheckRun } from "./check-runs.js";
import type { GitHubClient } from "./create-installation-client.js";
import { parseSlipwayConfig } from "./parse-slipway-config.js";
import { readSlipwayConfig } from "./read-slipway-config.js";
import { checkRunName, invalidConfigOutput, queuedOutput } from "./render-check-run.js";
import { selectFunctionsForPush } from "./select-functions-for-push.js";

export type PushDependencies = {
  db: Database;
  queue: Queue<BuildJobData>;
  runtimes: Map<string, Runtime>;
  log: Logger;
};

export type PushEvent = {
  deliveryId: string;
  octokit: GitHubClient;
  payload: {
    ref: string;
    after: string;
    deleted: boolean;
    head_commit: { message: string } | null;
    repository: { id: number; name: string; owner: { login: string; name?: string | null }; clone_url: string; default_branch?: string; master_branch?: string };
    installation?: { id: number };
  };
};

export async function handlePush(event: PushEvent, deps: PushDependencies): Promise<void> {
  const { payload, octokit, deliveryId } = event;
  const log = deps.log.child({ deliveryId, repo: payload.repository.name, sha: payload.after });
  if (payload.deleted || !payload.ref.startsWith("refs/heads/") || !payload.installation) return;

  if (await isDeliveryProcessed(deps.db, deliveryId, "push", null)) {
    log.info("delivery already handled; ignoring the redelivery");
    return;
  }

  const repository: RepositoryRecord = {
    id: payload.repository.id,
    installationId: payload.installation.id,
    owner: payload.repository.owner.login,
    name: payload.repository.name,
    cloneUrl: payload.repository.clone_url,
    defaultBranch: payload.repository.default_branch ?? payload.repository.master_branch ?? "main",
  };
  const target = { owner: repository.owner, repo: repository.name, sha: payload.after };
  await upsertRepository(deps.db, repository);

  const text = await readSlipwayConfig(octokit, target.owner, target.repo, target.sha);
  if (text === null) {
    log.info("no slipway.yml at this commit; nothing to deploy");
    await markDeliveryProcessed(deps.db, deliveryId);
    return;
  }

  const parsed = parseSlipwayConfig(text, [...deps.runtimes.keys()]);
  if (!parsed.ok) {
    log.info({ problems: parsed.problems.length }, "slipway.yml is invalid");
    await createCheckRun(octokit, { ...target, name: "slipway / config" }, { conclusion: "failure" }, invalidConfigOutput(parsed.problems));
    await markDeliveryProcessed(deps.db, deliveryId);
    return;
  }

  const branch = payload.ref.slice("refs/heads/".length);
  const selected = selectFunctionsForPush(parsed.config, deps.runtimes, { branch, defaultBranch: repository.defaultBranch });
  for (const fn of selected) {
    const stored = await upsertFunction(deps.db, {
      repositoryId: repository.id,
      name: fn.id,
      slug: functionSlug(repository.owner, repository.name, fn.id),
      runtime: fn.runtime,
      root: fn.root,
      entrypoint: fn.entrypoint,
      commands: fn.commands,
      branch: fn.branch,
      cache: fn.cache,
    });
    const deployment = await createQueuedDeployment(deps.db, {
      functionId: stored.id,
      commitSha: target.sha,
      ref: payload.ref,
      trigger: "push",
      deliveryId,
      runtime: fn.runtime,
      entrypoint: fn.entrypoint,
      commands: fn.commands,
      root: fn.root,
    });
    if (deployment.checkRunId === null) {
      const checkRunId = await createCheckRun(
        octokit,
        { ...target, name: checkRunName(fn.id), externalId: deployment.id },
        { status: "queued" },
        queuedOutput(deployment.version),
      );
      await setCheckRunId(deps.db, deployment.id, checkRunId);
    }
    await enqueueBuild(deps.queue, deployment.id);
    log.info({ function: fn.id, deploymentId: deployment.id, version: deployment.version }, "build queued");
  }
  await markDeliveryProcessed(deps.db, deliveryId);
}
