// Owns recording a deployment's execution settings from the slipway.yml of the very commit
// it builds (the worker has that commit checked out), so what a deployment may do travels
// with it: a rollback brings back its permissions, schedule and events too.
import { lstat, readFile } from "node:fs/promises";
import { join } from "node:path";
import { configFileName, maxConfigBytes, parseSlipwayConfig } from "../config/parse-slipway-config.js";
import type { Queryable } from "../store/create-database.js";
import { recordDeploymentSettings } from "../store/deployment-settings.js";

export async function recordSettingsFromSource(
  db: Queryable,
  deployment: { deploymentId: string; functionName: string },
  checkoutDirectory: string,
  runtimeNames: readonly string[],
): Promise<void> {
  const path = join(checkoutDirectory, configFileName);
  // Only a regular file: a slipway.yml that is a link could point anywhere on the worker.
  // One over the size limit is not read at all; the parser would refuse it anyway.
  const info = await lstat(path).catch(() => null);
  const readable = info !== null && info.isFile() && info.size <= maxConfigBytes;
  const text = readable ? await readFile(path, "utf8").catch(() => null) : null;
  const parsed = text === null ? null : parseSlipwayConfig(text, runtimeNames);
  const fn = parsed?.ok ? parsed.config.functions.find((f) => f.id === deployment.functionName) : undefined;
  // Without a readable entry (a redeploy of a commit whose file has gone) the deployment
  // keeps the settings of the version before it.
  if (!fn) return;
  await recordDeploymentSettings(db, deployment.deploymentId, {
    execute: fn.execute ?? [],
    schedule: fn.schedule ?? null,
    events: fn.events ?? [],
    variables: fn.variables ?? {},
    timeoutSeconds: fn.timeout ?? null,
  });
}
