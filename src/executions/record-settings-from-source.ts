// Owns recording a deployment's execution settings from the configuration file of the very
// commit it builds (the worker has that commit checked out): slipway.yml, or appwrite.json
// when there is no slipway.yml. What a deployment may do travels with it: a rollback brings
// back its permissions, schedule and events too. It returns what the build needs from the
// same entry (build.packages).
import { lstat, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseRepositoryConfig, repositoryConfigFileNames } from "../config/parse-repository-config.js";
import { maxConfigBytes } from "../config/parse-slipway-config.js";
import type { Queryable } from "../store/create-database.js";
import { recordDeploymentSettings } from "../store/deployment-settings.js";

export async function recordSettingsFromSource(
  db: Queryable,
  deployment: { deploymentId: string; functionName: string },
  checkoutDirectory: string,
  runtimeNames: readonly string[],
): Promise<{ packages: string[] }> {
  let parsed = null;
  for (const fileName of repositoryConfigFileNames) {
    const path = join(checkoutDirectory, fileName);
    // Only a regular file: a configuration file that is a link could point anywhere on the
    // worker. One over the size limit is not read at all; the parser would refuse it anyway.
    const info = await lstat(path).catch(() => null);
    if (info === null) continue;
    const readable = info.isFile() && info.size <= maxConfigBytes;
    const text = readable ? await readFile(path, "utf8").catch(() => null) : null;
    parsed = text === null ? null : parseRepositoryConfig({ fileName, text }, runtimeNames);
    break;
  }
  const fn = parsed?.ok ? parsed.config.functions.find((f) => f.id === deployment.functionName) : undefined;
  // Without a readable entry (a redeploy of a commit whose file has gone) the deployment
  // keeps the settings of the version before it.
  if (!fn || !parsed?.ok) return { packages: [] };
  await recordDeploymentSettings(db, deployment.deploymentId, {
    execute: fn.execute ?? [],
    schedule: fn.schedule ?? null,
    events: fn.events ?? [],
    variables: fn.variables ?? {},
    timeoutSeconds: fn.timeout ?? null,
    appwrite: parsed.appwrite[fn.id] ?? null,
  });
  // What the build itself needs from the same file: build.packages.
  return { packages: fn.build?.packages ?? [] };
}
