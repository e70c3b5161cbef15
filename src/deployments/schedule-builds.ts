// Owns deciding and enqueueing the builds of one commit for one alias (production for a
// push, pr-<n> for a pull request), as ARCHITECTURE.md's steps 2 and 3 tell it: read
// slipway.yml at the commit, skip what `[skip ci]` or unchanged watch paths say to skip
// (each with a neutral check run saying why), hold fork code until it is approved, and
// otherwise record a queued deployment and its check run (its GitHub Deployment is made by
// the worker that claims it, to keep this within GitHub's 10 s), cancel older
// builds it supersedes, and enqueue it. A second event for the same commit (a push and a
// pull request) reuses the first one's build and only adds its alias.
import type { Queue } from "bullmq";
import type { Logger } from "pino";
import type { Config } from "../config/load-config.js";
import { checkRunActions } from "../github/check-run-actions.js";
import { commitRunExternalId, reportAwaitingApproval, reportCommitOutcome } from "../github/commit-check-run.js";
import { compareCommits, type Comparison } from "../github/compare-commits.js";
import type { GitHubClient, InstallationClients } from "../github/create-installation-client.js";
import { approvalInstructions, forkBuildGate } from "../github/fork-build-gate.js";
import { parseRepositoryConfig } from "../config/parse-repository-config.js";
import { configTooLarge } from "../config/parse-slipway-config.js";
import { readSlipwayConfig } from "../github/read-slipway-config.js";
import {
  appwriteConfigCheckRunName,
  appwriteConfigOutput,
  awaitingApprovalOutput,
  checkRunName,
  configCheckRunName,
  invalidConfigOutput,
  notDeployableOutput,
  skippedOutput,
} from "../github/render-check-run.js";
import { decideByChangedPaths } from "../github/select-changed-functions.js";
import { selectFunctionsForPush, type SelectedFunction } from "../github/select-functions-for-push.js";
import { skipReasonForMessage } from "../github/skip-reason-for-message.js";
import { enqueueActivation, enqueueBuild, type BuildJobData } from "../queue/build-queue.js";
import type { Runtime } from "../runtimes/runtime-catalog.js";
import { getAlias } from "../store/aliases.js";
import type { AuditVia } from "../store/audit-log.js";
import { inTransaction, type Database } from "../store/create-database.js";
import { addDeploymentTarget } from "../store/deployment-targets.js";
import { createQueuedDeployment } from "../store/deployments.js";
import { reportLater } from "../store/github-reports.js";
import { isSlugTaken, upsertFunction } from "../store/functions.js";
import { functionSlug } from "../gateway/route-key.js";
import { setPullRequestFunction, type PullRequestRecord } from "../store/pull-requests.js";
import type { RepositoryRecord } from "../store/repositories.js";
import type { DeploymentStatus } from "./deployment-state.js";
import { supersedeOlderBuilds } from "./supersede-older-builds.js";

export type ScheduleDependencies = {
  config: Config;
  db: Database;
  queue: Queue<BuildJobData>;
  runtimes: Map<string, Runtime>;
  github: InstallationClients;
  log: Logger;
};

export type ScheduleRequest = {
  octokit: GitHubClient;
  repository: RepositoryRecord;
  sha: string;
  /** Recorded on the deployment: refs/heads/<branch> for a push, refs/pull/<n>/head for a PR. */
  ref: string;
  alias: string;
  pullRequest: PullRequestRecord | null;
  /** A push deploys only the functions of its branch; a pull request (null) previews all. */
  branch: string | null;
  trigger: string;
  deliveryId: string;
  /** The head commit's message when the webhook carries it; otherwise the compare API's. */
  headCommitMessage: string | null;
  /** A re-run builds whatever changed or not ([skip ci] and watch paths do not apply)… */
  force?: boolean;
  /** …and as a new build, even when one exists for this commit. */
  rebuild?: boolean;
  onlyFunctions?: string[];
  trusted: boolean;
  via: AuditVia;
};

export type ScheduledFunction = { id: string; outcome: "queued" | "reused" | "skipped" | "awaiting approval" | "failed"; deploymentId?: string; reason?: string };

export async function scheduleBuilds(deps: ScheduleDependencies, request: ScheduleRequest): Promise<ScheduledFunction[] | null> {
  const { octokit, repository, sha } = request;
  const repo = { owner: repository.owner, repo: repository.name };
  const log = deps.log.child({ repository: `${repository.owner}/${repository.name}`, sha, alias: request.alias });
  const runTarget = (name: string, detailsUrl = `${deps.config.appUrl}/`) => ({ ...repo, repositoryId: repository.id, sha, name, detailsUrl, externalId: commitRunExternalId(request.alias) });

  const file = await readSlipwayConfig(octokit, repo.owner, repo.repo, sha);
  if (file === null) return null;
  const parsed =
    "text" in file
      ? parseRepositoryConfig(file, [...deps.runtimes.keys()])
      : { ok: false as const, fileName: file.fileName, problems: [{ ...configTooLarge(file.tooLarge), message: configTooLarge(file.tooLarge).message.replace("slipway.yml", file.fileName) }] };
  if (parsed === null) return null;
  if (!parsed.ok) {
    log.info({ problems: parsed.problems.length, file: parsed.fileName }, "configuration file is invalid");
    await reportCommitOutcome(deps.db, octokit, runTarget(configCheckRunName), "failure", invalidConfigOutput(parsed.problems, parsed.fileName));
    return [];
  }
  if (parsed.fileName !== "slipway.yml") {
    // What appwrite.json said that Slipway maps, runs differently or cannot honour, said before anything builds.
    await reportCommitOutcome(deps.db, octokit, runTarget(appwriteConfigCheckRunName), parsed.notes.length > 0 ? "neutral" : "success", appwriteConfigOutput(parsed.config.functions.map((fn) => fn.id), parsed.notes));
  }

  let selected = selectFunctionsForPush(parsed.config, deps.runtimes, { branch: request.branch, defaultBranch: repository.defaultBranch });
  if (request.onlyFunctions) selected = selected.filter((fn) => request.onlyFunctions!.includes(fn.id));

  // Compare against the last deployed commit of the alias (production for a push), or
  // the merge base of a pull request; never just HEAD^, which misses earlier commits.
  const comparisons = new Map<string, Promise<Comparison>>();
  const compare = (base: string) => {
    let pending = comparisons.get(base);
    if (!pending) {
      pending = compareCommits(octokit, { ...repo, base, head: sha });
      comparisons.set(base, pending);
    }
    return pending;
  };
  let message = request.headCommitMessage;
  if (message === null && request.pullRequest && !request.force) message = (await compare(request.pullRequest.baseSha)).headMessage;
  const skipAll = request.force ? null : skipReasonForMessage(message);
  const gate = request.pullRequest ? forkBuildGate(request.pullRequest) : { build: true as const };

  // Functions are scheduled side by side: the webhook must be answered within 10 s.
  const results = await Promise.all(selected.map(async (fn): Promise<ScheduledFunction> => {
    const slug = functionSlug(repository.owner, repository.name, fn.id);
    const stored = await upsertFunction(deps.db, {
      repositoryId: repository.id,
      name: fn.id,
      slug,
      runtime: fn.runtime,
      root: fn.root,
      entrypoint: fn.entrypoint,
      commands: fn.commands,
      branch: fn.branch,
      cache: fn.cache,
      watch: fn.watch,
      supersede: fn.supersede,
    }).catch((error: unknown) => {
      if (!isSlugTaken(error)) throw error;
      return null;
    });
    if (stored === null) {
      // Retrying cannot free the URL: the check run says so at once, and the other functions go on.
      const reason = `its URL \`/fn/${slug}/\` still belongs to a function of the repository that had this name before (renamed or deleted on GitHub): a function keeps the URL it was first given, so nobody else can take it over. Rename this function in \`slipway.yml\` to give it a URL of its own`;
      await reportCommitOutcome(deps.db, octokit, runTarget(checkRunName(fn.id)), "failure", notDeployableOutput(reason));
      log.warn({ function: fn.id, slug }, "function URL held by an earlier repository of the same name");
      return { id: fn.id, outcome: "failed", reason };
    }
    const prRow = async (deploymentId: string | null, note: string | null) => {
      if (request.pullRequest) {
        await setPullRequestFunction(deps.db, { repositoryId: repository.id, number: request.pullRequest.number, functionName: fn.id, deploymentId, note });
      }
    };

    let skip = skipAll;
    if (!skip && !request.force) {
      const base = request.pullRequest ? request.pullRequest.baseSha : await lastDeployedCommit(deps.db, stored.id, request.alias);
      const decision = base === null ? { build: true as const } : decideByChangedPaths(fn, (await compare(base)).paths, base);
      if (!decision.build) skip = decision.reason;
    }
    if (skip) {
      await reportCommitOutcome(deps.db, octokit, runTarget(checkRunName(fn.id)), "neutral", skippedOutput(skip));
      await prRow(null, `skipped: ${skip}`);
      log.info({ function: fn.id, reason: skip }, "build skipped");
      return { id: fn.id, outcome: "skipped", reason: skip };
    }
    if (!gate.build) {
      await reportAwaitingApproval(
        deps.db,
        octokit,
        runTarget(checkRunName(fn.id)),
        checkRunActions({ phase: "awaiting approval", alias: request.alias, serving: false }),
        awaitingApprovalOutput(gate.reason, approvalInstructions),
      );
      await prRow(null, "awaiting approval by a user with write permission (`/slipway approve`)");
      return { id: fn.id, outcome: "awaiting approval", reason: gate.reason };
    }

    const build = await findOrCreateBuild(deps.db, request, fn, stored.id);
    const fresh = build.created || build.resumed;
    // Its check run is made by the reporting outbox, so a burst of pushes waits on no GitHub write.
    if (fresh) await reportLater(deps.db, { kind: "deployment", deploymentId: build.id, phase: "queued" });
    await prRow(build.id, null);
    if (fn.supersede) {
      await supersedeOlderBuilds(deps, { deploymentId: build.id, functionId: stored.id, version: build.version, commitSha: sha, alias: request.alias, via: request.via });
    }
    if (fresh) await enqueueBuild(deps.queue, build.id);
    else if (build.targetAdded && build.status === "ready") await enqueueActivation(deps.queue, build.id, request.alias);
    log.info({ function: fn.id, version: `v${build.version}`, deploymentId: build.id, reused: !fresh }, fresh ? "build queued" : "build reused for another alias");
    return { id: fn.id, outcome: fresh ? "queued" : "reused", deploymentId: build.id };
  }));
  if (request.pullRequest && results.length > 0) {
    await reportLater(deps.db, { kind: "pull-request", repositoryId: repository.id, number: request.pullRequest.number, ...repo, installationId: repository.installationId });
  }
  return results;
}

async function lastDeployedCommit(db: Database, functionId: string, alias: string): Promise<string | null> {
  const current = await getAlias(db, functionId, alias);
  if (!current) return null;
  const row = await db.query<{ commit_sha: string }>("select commit_sha from deployments where id = $1", [current.deploymentId]);
  return row.rows[0]?.commit_sha ?? null;
}

/**
 * `resumed`: this delivery made the build on an earlier try that stopped before its check run
 * was created (a retried webhook), so this try finishes what that one started.
 */
type Build = { id: string; version: number; status: DeploymentStatus; created: boolean; resumed: boolean; targetAdded: boolean };

// Serialized per function and commit with an advisory lock, so a push and a pull request
// arriving together for one sha cannot both decide that no build exists yet.
async function findOrCreateBuild(db: Database, request: ScheduleRequest, fn: SelectedFunction, functionId: string): Promise<Build> {
  return inTransaction(db, async (client) => {
    await client.query("select pg_advisory_xact_lock(hashtext($1))", [`slipway-build:${functionId}:${request.sha}`]);
    let build: Omit<Build, "targetAdded"> | undefined;
    if (!request.rebuild) {
      const existing = await client.query<{ id: string; version: number; status: DeploymentStatus; resumed: boolean }>(
        `select id, version, status, (delivery_id = $8 and check_run_id is null and status = 'queued') as resumed from deployments
          where function_id = $1 and commit_sha = $2 and status in ('queued', 'building', 'ready')
            and runtime = $3 and entrypoint = $4 and commands = $5 and root = $6 and (trusted or not $7)
          order by version desc limit 1`,
        [functionId, request.sha, fn.runtime, fn.entrypoint, fn.commands, fn.root, request.trusted, request.deliveryId],
      );
      const found = existing.rows[0];
      if (found) build = { id: found.id, version: found.version, status: found.status, created: false, resumed: found.resumed };
    }
    if (!build) {
      const created = await createQueuedDeployment(client, {
        functionId,
        commitSha: request.sha,
        ref: request.ref,
        trigger: request.trigger,
        deliveryId: request.deliveryId,
        runtime: fn.runtime,
        entrypoint: fn.entrypoint,
        commands: fn.commands,
        root: fn.root,
      });
      if (!request.trusted) await client.query("update deployments set trusted = false where id = $1", [created.id]);
      build = { id: created.id, version: created.version, status: created.status, created: created.created, resumed: !created.created && created.checkRunId === null && created.status === "queued" };
    }
    const targetAdded = await addDeploymentTarget(client, build.id, request.alias, request.pullRequest?.number ?? null);
    return { ...build, targetAdded };
  });
}
