// `slipway deploy <dir>`: upload the directory, follow its build, then say where it serves.
// Exit status 1 unless the version ends ready.
import { randomUUID } from "node:crypto";
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { ApiClient } from "./api-client.js";
import { CliError, exitCodes } from "./cli-error.js";
import type { Output } from "./cli-output.js";
import { buildFailureLine, followDeployment } from "./follow-deployment.js";
import { packUpload } from "./pack-upload.js";
import { fullFunctionName } from "./resolve-function.js";

type UploadResult = { deploymentId: string; functionId: string; functionName: string; version: number; production: boolean; files: number; bytes: number; url: string; productionUrl: string };

export async function deployDirectory(
  client: ApiClient,
  dir: string,
  options: { functionName: string; production: boolean; noCache: boolean; json: boolean },
  output: Output,
): Promise<number> {
  const directory = resolve(dir);
  if (!(await stat(directory).catch(() => null))?.isDirectory()) throw new CliError(`${dir} is not a directory`, exitCodes.usage);
  const fn = await client.findFunction(options.functionName);
  const name = fullFunctionName(fn);
  const query = new URLSearchParams({ production: String(options.production), noCache: String(options.noCache) });
  const { body: uploaded } = await client.upload<UploadResult>(`/v1/functions/${fn.id}/deployments?${query}`, await packUpload(directory), {
    "content-type": "application/gzip",
    "idempotency-key": randomUUID(),
  });
  const progress = options.json ? output.err : output.out;
  progress(`Uploaded ${uploaded.files} files (${Math.ceil(uploaded.bytes / 1024)} KB) as ${uploaded.functionName} v${uploaded.version} (${uploaded.deploymentId}); building…\n`);
  const final = await followDeployment(client, uploaded.deploymentId, { follow: true, json: options.json }, output);
  const production = (await client.get<{ functions: { id: string; aliases: { alias: string; version: number; pinned: boolean }[] }[] }>("/v1/functions")).functions
    .find((f) => f.id === uploaded.functionId)
    ?.aliases.find((a) => a.alias === "production");
  const live = production?.version === uploaded.version;
  const failure = buildFailureLine(final);
  if (options.json) output.out(`${JSON.stringify({ ...uploaded, status: final.status, error: final.error, live }, null, 2)}\n`);
  if (failure) {
    output.err(`slipway: ${failure}\n`);
    return exitCodes.failed;
  }
  if (options.json) return exitCodes.ok;
  const lines = [`v${uploaded.version} is ready at ${uploaded.url}`];
  if (live) lines.push(`Production now serves v${uploaded.version}: ${uploaded.productionUrl}`);
  else if (options.production && production?.pinned) lines.push(`Production is pinned to v${production.version} and still serves it; \`slipway promote ${name} v${uploaded.version}\` puts this version live.`);
  else if (options.production) lines.push(`Production still serves v${production?.version ?? "–"} (a newer version is live).`);
  else lines.push(`A preview: production is unchanged. \`slipway promote ${name} v${uploaded.version}\` or \`slipway deploy ${dir} --function ${name} --prod\` puts it live.`);
  output.out(`${lines.join("\n")}\n`);
  return exitCodes.ok;
}
