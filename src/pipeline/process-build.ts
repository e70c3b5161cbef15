// Owns the story of one build job, as ARCHITECTURE.md tells it: claim the deployment,
// fetch exactly its commit, build it in a runtime container, stream the artifact out into
// the store, mark it ready, and activate it for every alias it was meant for. Every ending,
// good or bad, leaves the deployment in a final state, with what its users should hear of it
// recorded in the reporting outbox (github_reports) by the same statement; the pipeline
// itself knows nothing of GitHub (src/github/report-outbox.ts tells it).
import type Docker from "dockerode";
import { deploymentLogger } from "../logging/deployment-logger.js";
import { describeMissingRuntimeImage } from "./describe-missing-runtime-image.js";
import { mkdtemp, readFile, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Queue } from "bullmq";
import { emitDeploymentEvent } from "../executions/emit-deployment-event.js";
import type { EventJobData } from "../executions/execution-queues.js";
import { recordSettingsFromSource } from "../executions/record-settings-from-source.js";
import { createMasterKeyring } from "../variables/master-keyring.js";
import { createSecretMasker } from "../variables/mask-secrets.js";
import { resolveFunctionVariables, toEnvList } from "../variables/resolve-function-environment.js";
import type { ArtifactStore } from "../artifacts/artifact-store.js";
import type { Config } from "../config/load-config.js";
import { claimBuild, isTerminal, transitionDeployment } from "../deployments/deployment-state.js";
import { parseBuildAnnotations } from "./parse-build-annotations.js";
import { buildDuration, builds } from "../metrics/metrics.js";
import type { Runtime } from "../runtimes/runtime-catalog.js";
import type { Database } from "../store/create-database.js";
import { getBuildContext, type BuildContext } from "../store/deployments.js";
import { reportLater, type DeploymentFacts } from "../store/github-reports.js";
import { cacheVolumeName, ensureCacheVolume, looksLikeCorruptCache, resetCacheVolume } from "./build-cache.js";
import { buildLogKey, createBuildLogAppender, endBuildLog } from "./build-log-stream.js";
import { activateTargets } from "./activate-targets.js";
import { fetchSource } from "./fetch-source.js";
import { unpackSourceArchive } from "./source-archive.js";
import { buildContainerName, prepareBuildContainer, removeBuildContainers, runBuildContainer, type BuildContainerSpec, type BuildLimits, type PreparedBuildContainer } from "./run-build-container.js";
import { planDependencyInstall, type DependencyPlan } from "./dependency-reuse.js";
import type { BuildContainersAhead } from "./build-containers-ahead.js";
import { buildNetworkOf } from "../sandbox/sandbox-networks.js";
import { ensureSandboxNetwork } from "../sandbox/ensure-sandbox-network.js";
import { buildProxyEnvironment } from "../sandbox/build-proxy-environment.js";
import { describeDiskOverrun } from "./describe-disk-overrun.js";
import { ArtifactRefusedError, streamArtifactOut } from "./stream-artifact-out.js";

export type BuildDependencies = {
  config: Config;
  db: Database;
  docker: Docker;
  artifacts: ArtifactStore;
  /** The installation token git clones with. */
  github: { installationToken(installationId: number): Promise<string> };
  runtimes: Map<string, Runtime>;
  log: Logger;
  /** Live build logs for followers; optional so a worker without it still builds. */
  redis?: Redis;
  /** Build containers made ahead (build-containers-ahead.ts); none: each build makes its own. */
  ahead?: BuildContainersAhead;
  /** Where `deployments.<function>.ready|failed` events go; none: not published. */
  events?: Queue<EventJobData>;
};

class BuildFailure extends Error {
  constructor(message: string, readonly conclusion: "failure" | "timed_out" = "failure", readonly failedCommand: string | null = null) {
    super(message);
  }
}

const liveLogIntervalMs = 10_000;
// The live log shown while building: its end, within what a check run's text holds.
const liveLogBytes = 60_000;
// How often a running build checks whether it was cancelled (superseded, closed, button).
const cancelCheckIntervalMs = 1_000;

export async function processBuild(deploymentId: string, deps: BuildDependencies): Promise<void> {
  const { config, db, docker } = deps;
  const initial = await getBuildContext(db, deploymentId);
  // A ready build wanted by one more alias (a push and a pull request for one sha): activate only.
  if (initial?.status === "ready") return activateReadyBuild(deps, initial);
  if (!initial || isTerminal(initial.status)) return;
  const attempt = await claimBuild(db, deploymentId);
  if (attempt === null) return;
  const log = deploymentLogger(deps.log, initial).child({ attempt });
  const claimedAt = performance.now();
  // A previous attempt's worker died; its build container may still be running.
  const leftovers = await removeBuildContainers(docker, deploymentId);
  if (leftovers > 0) log.warn({ leftovers }, "removed build containers of a dead attempt");

  const deployment = (await getBuildContext(db, deploymentId))!;

  // The build's container (limits, network, cache volume; no variables, no source) is made
  // and started from here on, while the build is set up and its source fetched, so the build
  // itself starts with an exec.
  const runtime = deps.runtimes.get(deployment.runtime);
  const timeoutSeconds = runtime?.buildTimeoutSeconds ?? config.SLIPWAY_BUILD_TIMEOUT_SECONDS;
  const limits: BuildLimits = {
    memoryMb: Math.max(runtime?.buildMemoryMb ?? 0, config.SLIPWAY_BUILD_MEMORY_MB),
    cpus: config.SLIPWAY_BUILD_CPUS,
    pids: config.SLIPWAY_BUILD_PIDS,
    timeoutSeconds,
    diskMb: config.SLIPWAY_BUILD_DISK_MB,
  };
  const labels = { "slipway.deployment": deploymentId, "slipway.function": deployment.functionId };
  const useCache = deployment.cache && deployment.useCache;
  const cacheVolumeReady = useCache && runtime ? ensureCacheVolume(docker, deployment.functionId, deployment.runtime) : Promise.resolve(undefined);
  const containerSpec = (cache: boolean): BuildContainerSpec | null =>
    runtime
      ? { image: runtime.image, limits, labels, network: buildNetworkOf(config).name, ...(cache ? { cacheVolume: cacheVolumeName(deployment.functionId, deployment.runtime) } : {}) }
      : null;
  const makeContainer = async () => {
    // Made at start-up too; again here, since `docker network prune` removes it while no build runs.
    await ensureSandboxNetwork(docker, buildNetworkOf(config));
    await cacheVolumeReady;
    return prepareBuildContainer(docker, containerSpec(useCache)!);
  };
  // One made ahead, after the function's last successful build, if it has the same settings;
  // renamed for this deployment, so that a cancel or a takeover finds it.
  const takenAhead = runtime ? deps.ahead?.take(deployment.functionId, containerSpec(useCache)!) : null;
  const preparing = !runtime
    ? undefined
    : takenAhead
      ? takenAhead
          .then(async (prepared) => {
            await prepared.container.rename({ name: buildContainerName(deploymentId) });
            return prepared;
          })
          .catch((error: Error) => {
            log.warn({ err: { message: error.message } }, "the build container made ahead could not be used; making one");
            return makeContainer();
          })
      : makeContainer();
  // Awaited by the build; a failure (a missing image, said in words below) surfaces there.
  cacheVolumeReady.catch(() => {});
  preparing?.catch(() => {});
  const building = (log: string): DeploymentFacts => ({ kind: "deployment", deploymentId, phase: "building", log: log.slice(-liveLogBytes) });

  const timings: Record<string, number> = {};
  const createdAt = (await db.query<{ created_at: Date }>("select created_at from deployments where id = $1", [deploymentId])).rows[0]!.created_at;
  timings["queue wait"] = Math.max(0, Date.now() - createdAt.getTime());
  let output = "";
  const workdir = await mkdtemp(join(tmpdir(), "slipway-build-"));

  const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await work();
    } finally {
      timings[name] = performance.now() - started;
    }
  };

  await reportLater(db, building(""));
  // A cancelled build (superseded, its pull request closed, the Cancel button) has its
  // build container killed here, by the worker that runs it, on whatever engine that is.
  const cancelWatch = setInterval(() => {
    void getBuildContext(db, deploymentId)
      .then(async (now) => {
        if (now?.status !== "cancelled") return;
        clearInterval(cancelWatch);
        const killed = await removeBuildContainers(docker, deploymentId);
        log.info({ killed }, "build cancelled; its container was removed");
      })
      .catch(() => {});
  }, cancelCheckIntervalMs);

  let liveLogTimer: NodeJS.Timeout | undefined;
  const liveLog = deps.redis ? buildLogKey(config.SLIPWAY_QUEUE_PREFIX, deploymentId) : null;
  const appendLiveLog = liveLog ? createBuildLogAppender(deps.redis!, liveLog, config.SLIPWAY_BUILD_LOG_MAX_MB * 1024 * 1024) : null;
  let container: Docker.Container | undefined;
  let removeMeter: (() => Promise<void>) | undefined;
  try {
    if (!runtime) throw new BuildFailure(`the runtime '${deployment.runtime}' is not available on this worker`);
    // Said here, in words, rather than as Docker's "No such image" from the build container.
    const missingImage = await describeMissingRuntimeImage(docker, runtime);
    if (missingImage) throw new BuildFailure(missingImage);


    await step("fetch", async () => {
      if (deployment.sourceDigest) {
        // `slipway deploy`: the uploaded archive, checked on upload, is the source.
        await unpackSourceArchive(deps.artifacts.open(deployment.sourceDigest), workdir);
        return;
      }
      const token = await deps.github.installationToken(deployment.installationId);
      await fetchSource({ cloneUrl: deployment.cloneUrl, sha: deployment.commitSha, token, directory: workdir });
    });
    // The commit's own slipway.yml decides the deployment's execution settings; its
    // variables (secret ones only when the deployment is trusted) go into the build.
    const { packages } = await recordSettingsFromSource(db, deployment, workdir, [...deps.runtimes.keys()]);
    const keyring = createMasterKeyring(config.SLIPWAY_MASTER_KEY, config.SLIPWAY_MASTER_KEY_PREVIOUS);
    const variables = await resolveFunctionVariables(db, keyring, deploymentId);
    const buildEnvironment = toEnvList(variables.environment);

    const sourceDirectory = await realpath(join(workdir, deployment.root)).catch(() => {
      throw new BuildFailure(`the function's root '${deployment.root}' does not exist in this ${deployment.sourceDigest ? "upload" : "commit"}`);
    });
    // A root that is a link out of the checkout would build whatever it points to.
    if (sourceDirectory !== (await realpath(workdir)) && !sourceDirectory.startsWith(`${await realpath(workdir)}/`)) {
      throw new BuildFailure(`the function's root '${deployment.root}' leads outside the source`);
    }
    const extraCaBundle = config.SLIPWAY_BUILD_CA_BUNDLE ? await readFile(config.SLIPWAY_BUILD_CA_BUNDLE) : undefined;
    let lastShown = 0;
    liveLogTimer = setInterval(() => {
      if (output.length === lastShown) return;
      lastShown = output.length;
      void reportLater(db, building(output)).catch((error: Error) => log.warn({ err: { message: error.message } }, "could not record the live log"));
    }, liveLogIntervalMs);
    // Secret values never reach the stored log, the live log or a check run: masked first.
    const masker = createSecretMasker(Object.values(variables.secrets));
    const showOutput = (text: string) => {
      output += text;
      if (output.length > 512 * 1024) output = output.slice(-256 * 1024);
      if (appendLiveLog && text) void appendLiveLog(text);
    };
    const buildOnce = (cacheVolume: string | undefined, dependencies: DependencyPlan | null, prepared?: PreparedBuildContainer) =>
      runBuildContainer(docker, {
        image: runtime.image,
        sourceDirectory,
        entrypoint: deployment.entrypoint,
        commands: deployment.commands,
        limits,
        labels,
        env: [...buildEnvironment, ...buildProxyEnvironment(config.SLIPWAY_BUILD_PROXY)],
        network: buildNetworkOf(config).name,
        packages,
        ...(extraCaBundle ? { extraCaBundle } : {}),
        ...(cacheVolume ? { cacheVolume, dependencies } : {}),
        onOutput: (text) => showOutput(masker.push(text)),
      }, prepared).finally(() => showOutput(masker.flush()));
    let dependencies: DependencyPlan | null = null;
    let waitedForContainer = 0;
    const build = await step("build", async () => {
      const [cacheVolume, plan] = await Promise.all([
        cacheVolumeReady,
        // The install is skipped only with the cache (it holds the copy), never on a rebuild without it.
        useCache && config.SLIPWAY_BUILD_REUSE_DEPENDENCIES === "true"
          ? planDependencyInstall(db, {
              sourceDirectory,
              functionId: deployment.functionId,
              runtime: deployment.runtime,
              deploymentId,
              imageId: (await docker.getImage(runtime.image).inspect()).Id,
              commands: deployment.commands,
              env: buildEnvironment,
              packages,
              secret: config.SLIPWAY_GATEWAY_SECRET,
            })
          : null,
      ]);
      dependencies = plan;
      const waitStarted = performance.now();
      const prepared = await preparing!;
      waitedForContainer = performance.now() - waitStarted;
      const first = await buildOnce(cacheVolume, plan, prepared);
      if (first.diskOverrun && cacheVolume) {
        // The cache counts towards the limit: a full one must not fail every build from now on.
        await first.container.remove({ force: true }).catch(() => {});
        await first.removeMeter();
        await deps.ahead?.discard(deployment.functionId);
        await resetCacheVolume(docker, deployment.functionId, deployment.runtime);
        output += "\n[slipway] The build passed its disk limit, so its build cache was cleared; the next build starts without it.\n";
      }
      if (first.exitCode === 0 || first.timedOut || first.diskOverrun || !cacheVolume || !looksLikeCorruptCache(first.output)) return first;
      // A broken cache must not fail every build from now on: start it afresh, once.
      log.warn("the build cache looks corrupt; rebuilding it");
      await first.container.remove({ force: true }).catch(() => {});
      await first.removeMeter();
      await deps.ahead?.discard(deployment.functionId);
      output += "\n[slipway] The build cache looked corrupt, so it was cleared and the build ran again.\n";
      // A fresh cache holds no copy of node_modules: the retry installs.
      return buildOnce(await resetCacheVolume(docker, deployment.functionId, deployment.runtime), plan && { ...plan, reuse: false, installReason: "the build cache was cleared" });
    });
    timings["build › waited for its container"] = waitedForContainer;
    for (const [phase, ms] of Object.entries(build.phases)) timings[`build › ${phase}`] = ms;
    clearInterval(liveLogTimer);
    container = build.container;
    removeMeter = build.removeMeter;
    if (build.diskOverrun) {
      throw new BuildFailure(describeDiskOverrun(build.diskOverrun), "failure", deployment.commands);
    }
    if (build.timedOut) {
      throw new BuildFailure(`the build took longer than its ${timeoutSeconds} s limit`, "timed_out", deployment.commands);
    }
    if (build.exitCode !== 0) {
      const reason = build.exitCode === 137 ? "the build ran out of memory or was killed (exit code 137)" : `the build command exited with code ${build.exitCode}`;
      throw new BuildFailure(reason, "failure", deployment.commands);
    }

    const artifact = await step("artifact", () =>
      streamArtifactOut(build.container, deps.artifacts, {
        maxBytes: config.SLIPWAY_MAX_ARTIFACT_MB * 1024 * 1024,
        maxUnpackedBytes: config.SLIPWAY_MAX_UNPACKED_MB * 1024 * 1024,
        runtime,
        entrypoint: deployment.entrypoint,
      }).catch((error: unknown) => {
        // An output that is unsafe, too big or could never start fails the build with the reason.
        throw error instanceof ArtifactRefusedError ? new BuildFailure(error.message) : error;
      }),
    );
    const ready = await transitionDeployment(db, deploymentId, "ready", {
      attempt,
      fields: {
        artifact_digest: artifact.digest,
        artifact_size: artifact.size,
        build_finished_at: new Date(),
        log_tail: output.slice(-65_535),
        timings,
        dependency_key: (dependencies as DependencyPlan | null)?.key ?? null,
      },
    });
    if (!ready) {
      log.warn("the deployment changed state while it built (cancelled or taken over); dropping this result");
      return;
    }
    // Published while the gateway activates: the event says built, not live, so neither waits for the other.
    const published = emitDeploymentEvent(deps.events, deployment, "ready").catch((error: Error) => log.warn({ err: { message: error.message } }, "could not publish the deployment event"));

    const activations = await step("activate", () => activateTargets(deps, deployment));
    await published;
    await markSettled(db, deploymentId, timings);
    await reportLater(db, { kind: "deployment", deploymentId, phase: "ready", activations });
    log.info({ activated: activations.filter((a) => a.activated).map((a) => a.alias), timings }, "deployment ready");
    // The function's next build will find its container started. Labelled for the function
    // only: it belongs to no deployment until a build takes it.
    // Not after a build without its cache: the cache volume might not exist, and Docker would make an unlabelled one.
    if (runtime && deps.ahead && (useCache || !deployment.cache)) deps.ahead.prepare(deployment.functionId, { ...containerSpec(useCache)!, labels: { "slipway.function": deployment.functionId } });
  } catch (error) {
    clearInterval(liveLogTimer);
    await failBuild({ ...deps, log }, deployment, attempt, error, output, timings);
  } finally {
    clearInterval(cancelWatch);
    const final = (await getBuildContext(db, deploymentId).catch(() => null))?.status ?? "ended";
    observeBuild(deployment.runtime, final, (performance.now() - claimedAt) / 1000);
    if (liveLog) await endBuildLog(deps.redis!, liveLog, final).catch(() => {});
    await rm(workdir, { recursive: true, force: true });
    if (container) await container.remove({ force: true }).catch(() => {});
    await removeMeter?.();
    // A build that ended before its container was used (a failed fetch, say) leaves none behind.
    const prepared = await preparing?.catch(() => null);
    if (prepared && prepared.container.id !== container?.id) await prepared.container.remove({ force: true }).catch(() => {});
  }
}

// Counted once, by the attempt that ended it: a build still `building` was taken over.
function observeBuild(runtime: string, status: string, seconds: number): void {
  const conclusion = status === "ready" ? "success" : status === "failed" ? "failure" : status === "cancelled" ? "cancelled" : null;
  if (!conclusion) return;
  builds.inc({ runtime, conclusion });
  buildDuration.observe({ runtime, conclusion }, seconds);
}

async function failBuild(
  deps: BuildDependencies,
  deployment: BuildContext,
  attempt: number,
  error: unknown,
  output: string,
  timings: Record<string, number>,
): Promise<void> {
  const failure = error instanceof BuildFailure ? error : null;
  const reason = failure ? failure.message : describeInfrastructureError(error);
  if (!failure) deps.log.error({ err: error }, "build failed unexpectedly");
  const report = (afterReady: boolean): DeploymentFacts => ({
    kind: "deployment",
    deploymentId: deployment.deploymentId,
    phase: "failed",
    reason,
    conclusion: failure?.conclusion ?? "failure",
    failedCommand: failure?.failedCommand ?? null,
    annotations: parseBuildAnnotations(output, deployment.root, { runtime: deployment.runtime }),
    afterReady,
  });
  // Built, but activation failed: the build stays ready, and its report says what went wrong.
  if ((await getBuildContext(deps.db, deployment.deploymentId))?.status === "ready") {
    await markSettled(deps.db, deployment.deploymentId);
    await reportLater(deps.db, report(true));
    return;
  }
  const changed = await transitionDeployment(deps.db, deployment.deploymentId, "failed", {
    attempt,
    fields: { error: reason, failed_command: failure?.failedCommand ?? null, build_finished_at: new Date(), log_tail: output.slice(-65_535), timings },
    report: report(false),
  });
  if (changed) {
    deps.log.warn({ reason, conclusion: failure?.conclusion ?? "failure", ...(failure?.failedCommand ? { failedCommand: failure.failedCommand } : {}) }, "build failed");
    await emitDeploymentEvent(deps.events, deployment, "failed", reason).catch(() => {});
  }
}

async function activateReadyBuild(deps: BuildDependencies, deployment: BuildContext): Promise<void> {
  const activations = await activateTargets(deps, deployment);
  await markSettled(deps.db, deployment.deploymentId);
  if (activations.length === 0) return;
  await reportLater(deps.db, { kind: "deployment", deploymentId: deployment.deploymentId, phase: "ready", activations });
}

/** The worker is done with a ready build: its activations are decided (see 014_deployment_settled.sql). */
async function markSettled(db: Database, deploymentId: string, timings?: Record<string, number>): Promise<void> {
  await db.query("update deployments set settled_at = now(), timings = coalesce($2::jsonb, timings) where id = $1", [deploymentId, timings ? JSON.stringify(timings) : null]);
}

function describeInfrastructureError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0]!.slice(0, 500);
}
