// Variables through the REST API: project-level (a repository of an installation) and
// function-level. Values go in encrypted and never come out: lists return names only. A
// console user may list, set and delete them where they have write access on GitHub.
import { z } from "zod";
import type { AppDependencies } from "../app/start-app.js";
import type { RepositoryAccessChecker } from "../console/repository-access.js";
import { describeMissingAccess } from "../github/chatops/can-run-command.js";
import type { Principal } from "./api-tokens.js";
import { deleteVariable, listVariableNames, setVariable, type VariableScope } from "../store/variables.js";
import { checkVariableName } from "../variables/check-variable-name.js";
import { createMasterKeyring } from "../variables/master-keyring.js";
import { ApiError, type ApiRouter } from "./create-api-router.js";

const maxValueBytes = 64 * 1024;

export function registerVariableRoutes(api: ApiRouter, deps: AppDependencies, access: RepositoryAccessChecker): void {
  const { db, config } = deps;
  const keyring = createMasterKeyring(config.SLIPWAY_MASTER_KEY, config.SLIPWAY_MASTER_KEY_PREVIOUS);

  async function repositoryScope(owner: string, repo: string): Promise<VariableScope> {
    const row = await db.query<{ id: string }>("select id from repositories where owner = $1 and name = $2", [owner, repo]);
    if (!row.rows[0]) throw new ApiError(404, `Slipway knows no repository ${owner}/${repo}; push a slipway.yml to it first`);
    return { repositoryId: Number(row.rows[0].id), functionId: null };
  }

  async function functionScope(functionId: string): Promise<VariableScope> {
    if (!z.uuid().safeParse(functionId).success) throw new ApiError(400, "functionId must be a UUID");
    const row = await db.query<{ repositoryId: string }>(`select repository_id as "repositoryId" from functions where id = $1`, [functionId]);
    if (!row.rows[0]) throw new ApiError(404, `no function ${functionId}`);
    return { repositoryId: Number(row.rows[0].repositoryId), functionId };
  }

  /** The scope, once the principal may change its variables: any server token, or a GitHub user with write access. */
  async function writableScope(principal: Principal, scope: VariableScope): Promise<VariableScope> {
    if (principal.kind !== "user") return scope;
    const row = (await db.query<{ owner: string; repo: string }>("select owner, name as repo from repositories where id = $1", [scope.repositoryId])).rows[0]!;
    const allowed = await access.accessTo(principal, row);
    if (!allowed.canRead) throw new ApiError(404, "no such function or repository");
    if (!allowed.canDeploy) throw new ApiError(403, `${describeMissingAccess(principal.name, { canDeploy: false, role: "read" }, `${row.owner}/${row.repo}`, "variables")}.`);
    return scope;
  }

  function checkName(name: string): void {
    const problem = checkVariableName(name);
    if (problem) throw new ApiError(400, problem);
  }

  const valueBody = z.object({ value: z.string().refine((v) => Buffer.byteLength(v) <= maxValueBytes, `must be at most ${maxValueBytes / 1024} KB`) });

  async function put(scope: VariableScope, name: string, value: string) {
    checkName(name);
    if (!keyring) throw new ApiError(503, "variables are encrypted at rest and SLIPWAY_MASTER_KEY is not set on this server; set it (32 bytes, hex or base64) and restart");
    const { created } = await setVariable(db, keyring, scope, name, value);
    // The value is deliberately not echoed.
    return { name, created, note: "applies from the function's next deployment" };
  }

  const scopes = [
    { path: "/v1/repositories/:owner/:repo/variables", label: "project-level (every function of the repository)", scope: (p: Record<string, string>) => repositoryScope(p.owner!, p.repo!) },
    { path: "/v1/functions/:functionId/variables", label: "function-level", scope: (p: Record<string, string>) => functionScope(p.functionId!) },
  ];
  for (const { path, label, scope } of scopes) {
    api.route({
      method: "GET",
      path,
      summary: `List ${label} variable names (values are never returned)`,
      tags: ["variables"],
      auth: ["server", "user"],
      handler: async ({ params, principal }) => ({ variables: await listVariableNames(db, await writableScope(principal!, await scope(params))) }),
    });
    api.route({
      method: "PUT",
      path: `${path}/:name`,
      summary: `Set a ${label} variable (encrypted at rest)`,
      tags: ["variables"],
      auth: ["server", "user"],
      body: valueBody,
      handler: async ({ params, body, principal }) => put(await writableScope(principal!, await scope(params)), params.name!, body.value),
    });
    api.route({
      method: "DELETE",
      path: `${path}/:name`,
      summary: `Delete a ${label} variable`,
      tags: ["variables"],
      auth: ["server", "user"],
      handler: async ({ params, principal }) => {
        const deleted = await deleteVariable(db, await writableScope(principal!, await scope(params)), params.name!);
        if (!deleted) throw new ApiError(404, `no variable ${params.name}`);
        return { name: params.name, deleted: true };
      },
    });
  }
}
