// Decides which variables a deployment's build and runtime containers get: the non-secret
// ones from slipway.yml, then the encrypted project-level and function-level ones on top.
// An untrusted deployment (built from a fork's code) gets the slipway.yml ones only.
import type { Queryable } from "../store/create-database.js";
import { getDeploymentSettings } from "../store/deployment-settings.js";
import { loadSecretVariables } from "../store/variables.js";
import type { MasterKeyring } from "./master-keyring.js";

export async function resolveFunctionEnvironment(db: Queryable, keyring: MasterKeyring | null, deploymentId: string): Promise<Record<string, string>> {
  return (await resolveFunctionVariables(db, keyring, deploymentId)).environment;
}

/** The environment, and which of its variables are secret: a build's log masks those. */
export async function resolveFunctionVariables(
  db: Queryable,
  keyring: MasterKeyring | null,
  deploymentId: string,
): Promise<{ environment: Record<string, string>; secrets: Record<string, string> }> {
  // `trusted` comes with migration 004; reading it through to_jsonb keeps this working
  // (everything trusted) on a schema without it.
  const row = await db.query<{ functionId: string; trusted: boolean }>(
    `select d.function_id as "functionId", coalesce((to_jsonb(d) ->> 'trusted')::boolean, true) as trusted from deployments d where d.id = $1`,
    [deploymentId],
  );
  const deployment = row.rows[0];
  if (!deployment) return { environment: {}, secrets: {} };
  const settings = await getDeploymentSettings(db, deploymentId);
  const secrets = deployment.trusted ? await loadSecretVariables(db, keyring, deployment.functionId) : {};
  return { environment: { ...settings.variables, ...secrets }, secrets };
}

export function toEnvList(environment: Record<string, string>): string[] {
  return Object.entries(environment).map(([name, value]) => `${name}=${value}`);
}
