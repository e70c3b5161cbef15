// The Appwrite-compatible executions API, served by the gateway under /appwrite/v1, so an
// app that calls functions through an Appwrite SDK keeps its code and changes only its
// endpoint (`<gateway>/appwrite/v1`), project id and API key. It serves Appwrite's paths,
// request bodies, execution documents and error format (`{ message, code, type, version }`).
// A prefix rather than Slipway's own /v1 paths: the two APIs answer the same path with
// different shapes, and a URL that means one thing is easier to cache, log and debug than
// one whose meaning a header switches.
//   X-Appwrite-Project  must be SLIPWAY_APPWRITE_PROJECT_ID (the API is off without it)
//   X-Appwrite-Key      a Slipway API token (server, client or execution key); none: anonymous
//   {functionId}        the function's Appwrite `$id` from appwrite.json, or its Slipway slug or id
// Who may execute is decided by canExecute from the function's `execute:`, as everywhere.
import type { IncomingMessage } from "node:http";
import { z } from "zod";
import { authenticateToken, type Principal } from "../api/api-tokens.js";
import { ApiError, sendJson, type ApiRouter } from "../api/create-api-router.js";
import { countExecutions, getExecution, listExecutions } from "../store/executions.js";
import type { Caller } from "./can-execute.js";
import { mayRead } from "./execution-routes.js";
import { parseAppwriteQueries } from "./parse-appwrite-queries.js";
import { startFunctionExecution, type ExecutionStartDependencies, type ExecutionTarget } from "./start-function-execution.js";
import { toAppwriteExecution } from "./to-appwrite-execution.js";

export const appwriteApiPrefix = "/appwrite/v1";
/** The Appwrite API version whose shapes this API follows, sent as `version` in errors. */
export const appwriteApiVersion = "1.6.0";

export type AppwriteFunctionLookup =
  | { found: ExecutionTarget & { appwriteId: string } }
  | { ambiguous: string[] }
  | null;

export type AppwriteRouteDependencies = ExecutionStartDependencies & {
  /** SLIPWAY_APPWRITE_PROJECT_ID; undefined turns the API off. */
  projectId: string | undefined;
  /** What serves the function in production, by its Appwrite `$id`, or by Slipway slug or id. */
  findFunction(appwriteIdOrSlug: string): Promise<AppwriteFunctionLookup>;
};

/** An error with Appwrite's `type`, so an SDK's AppwriteException carries what Appwrite's would. */
export class AppwriteError extends ApiError {
  constructor(status: number, readonly type: string, message: string) {
    super(status, message);
  }
}

const defaultTypes: Record<number, string> = { 400: "general_argument_invalid", 401: "user_unauthorized", 404: "general_not_found", 413: "general_argument_invalid" };

export function appwriteErrorBody(status: number, message: string, error: unknown) {
  const type = error instanceof AppwriteError ? error.type : (defaultTypes[status] ?? (status >= 500 ? "general_unknown" : "general_argument_invalid"));
  return { message, code: status, type, version: appwriteApiVersion };
}

const method = z.enum(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
const createBody = z.object({
  body: z.string().max(20 * 1024 * 1024).nullish().transform((v) => v ?? ""),
  async: z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")]).nullish().transform((v) => v ?? false),
  path: z.string().startsWith("/").max(2048).nullish().transform((v) => v ?? "/"),
  method: method.nullish().transform((v) => v ?? "POST"),
  headers: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).nullish().transform((v) => v ?? {}),
  scheduledAt: z.iso.datetime({ offset: true }).nullish().transform((v) => v ?? undefined),
});

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function registerAppwriteExecutionRoutes(api: ApiRouter, deps: AppwriteRouteDependencies): void {
  const base = { tags: ["appwrite"], auth: "custom" as const, formatError: appwriteErrorBody };

  /** The project check and the caller behind X-Appwrite-Key. */
  async function authenticate(req: IncomingMessage): Promise<{ caller: Caller; principal: Principal | null }> {
    if (!deps.projectId) throw new AppwriteError(404, "general_route_not_found", "The Appwrite-compatible API is off on this gateway: its operator turns it on by setting SLIPWAY_APPWRITE_PROJECT_ID");
    const project = header(req, "x-appwrite-project");
    if (!project) throw new AppwriteError(404, "project_not_found", "No project was named: send X-Appwrite-Project (client.setProject) with this Slipway's Appwrite project id");
    if (project !== deps.projectId) throw new AppwriteError(404, "project_not_found", `Project with the requested ID could not be found: this Slipway answers as Appwrite project '${deps.projectId}'`);
    const key = header(req, "x-appwrite-key");
    if (key === undefined) {
      if (header(req, "x-appwrite-session") || header(req, "x-appwrite-jwt")) {
        throw new AppwriteError(401, "user_unauthorized", "Slipway has no Appwrite accounts, sessions or JWTs: send X-Appwrite-Key (client.setKey) with a Slipway API token, or call a function whose execute includes 'any'");
      }
      return { caller: { kind: "anonymous" }, principal: null };
    }
    const principal = await authenticateToken(deps.db, `Bearer ${key}`);
    return principal ? { caller: { kind: "token", principal }, principal } : { caller: { kind: "invalid" }, principal: null };
  }

  async function requireFunction(functionId: string) {
    const lookup = await deps.findFunction(functionId);
    if (lookup === null) throw new AppwriteError(404, "function_not_found", `Function with the requested ID could not be found: no function '${functionId}' is deployed in production`);
    if ("ambiguous" in lookup) {
      throw new AppwriteError(400, "general_argument_invalid", `'${functionId}' is the $id of functions in ${lookup.ambiguous.length} repositories; call it by its Slipway function id instead: ${lookup.ambiguous.join(", ")}`);
    }
    return lookup.found;
  }

  const unauthorized = (message: string) =>
    new AppwriteError(401, "user_unauthorized", message.replace("send `Authorization: Bearer slw_…`", "send X-Appwrite-Key (client.setKey) with a Slipway API token"));

  api.route({
    ...base,
    method: "POST",
    path: `${appwriteApiPrefix}/functions/:functionId/executions`,
    summary: "Appwrite's Create execution: synchronous, async, or at scheduledAt (async only, as in Appwrite)",
    body: createBody,
    handler: async ({ req, res, params, body }) => {
      const { caller, principal } = await authenticate(req);
      const target = await requireFunction(params.functionId!);
      if (body.scheduledAt !== undefined && !body.async) {
        throw new AppwriteError(400, "general_bad_request", "Scheduled executions must run asynchronously. Set scheduledAt to a future date, or set async to true.");
      }
      const request = { method: body.method, path: body.path, headers: body.headers, body: body.body };
      const started = await startFunctionExecution(deps, target, caller, principal, { request, async: body.async, scheduledAt: body.scheduledAt });
      if (!started.ok) throw started.status === 400 ? new AppwriteError(400, "general_argument_invalid", started.message) : unauthorized(started.message);
      sendJson(res, started.queued ? 202 : 201, toAppwriteExecution(started.execution, target.appwriteId));
      return undefined;
    },
  });

  api.route({
    ...base,
    method: "GET",
    path: `${appwriteApiPrefix}/functions/:functionId/executions/:executionId`,
    summary: "Appwrite's Get execution",
    handler: async ({ req, params }) => {
      const { principal } = await authenticate(req);
      const target = await requireFunction(params.functionId!);
      const execution = z.uuid().safeParse(params.executionId).success ? await getExecution(deps.db, params.executionId!) : null;
      if (!execution || execution.functionId !== target.functionId || !mayRead(principal, execution)) {
        throw new AppwriteError(404, "execution_not_found", `Execution with the requested ID could not be found (or this key may not read it)`);
      }
      return toAppwriteExecution(execution, target.appwriteId);
    },
  });

  api.route({
    ...base,
    method: "GET",
    path: `${appwriteApiPrefix}/functions/:functionId/executions`,
    summary: "Appwrite's List executions, newest first (a client token sees the ones it started)",
    query: z.record(z.string(), z.string()),
    handler: async ({ req, params, query }) => {
      const { principal } = await authenticate(req);
      if (!principal) throw unauthorized("listing executions needs an API key: send `Authorization: Bearer slw_…`");
      const target = await requireFunction(params.functionId!);
      if (principal.kind === "execution" && (principal.functionId !== target.functionId || (principal.deploymentId && principal.deploymentId !== target.deploymentId))) {
        throw unauthorized("an execution key may read only its own function's executions, from its own deployment");
      }
      const queries = Object.entries(query)
        .filter(([name]) => /^queries(\[\d*\])?$/.test(name))
        .sort(([a], [b]) => Number(/\d+/.exec(a)?.[0] ?? 0) - Number(/\d+/.exec(b)?.[0] ?? 0))
        .map(([, value]) => value);
      const parsed = parseAppwriteQueries(queries);
      if (!parsed.ok) throw new AppwriteError(400, "general_query_invalid", parsed.message);
      const filter = { functionId: target.functionId, status: parsed.query.status, trigger: parsed.query.trigger, createdBy: principal.kind === "client" ? principal.tokenId : undefined };
      const [executions, total] = await Promise.all([
        listExecutions(deps.db, { ...filter, limit: parsed.query.limit, offset: parsed.query.offset }),
        query.total === "false" ? Promise.resolve(0) : countExecutions(deps.db, filter),
      ]);
      return { total, executions: executions.map((execution) => toAppwriteExecution(execution, target.appwriteId)) };
    },
  });

  // Any other Appwrite path gets Appwrite's own answer for a route that does not exist.
  for (const verb of ["GET", "POST", "PUT", "PATCH", "DELETE"] as const) {
    api.route({
      ...base,
      auth: "public",
      method: verb,
      path: `${appwriteApiPrefix}/*`,
      summary: "Any other Appwrite API path: not served",
      handler: async () => {
        throw new AppwriteError(404, "general_route_not_found", "Slipway serves Appwrite's function executions only (create, get and list executions under /functions/{functionId}/executions)");
      },
    });
  }
}
