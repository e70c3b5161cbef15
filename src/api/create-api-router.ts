// Owns Slipway's REST API plumbing: routes (find-my-way), token authentication, zod input
// checking and the OpenAPI description, which is generated from the same route
// definitions so it cannot drift from the code. Feature modules add routes with
// `api.route({...})`; the app and the gateway each mount a router.
import { type IncomingMessage, type ServerResponse } from "node:http";
import findMyWay from "find-my-way";
import { z } from "zod";
import type { Queryable } from "../store/create-database.js";
import { authenticateSession, hasCsrfToken } from "../console/console-session.js";
import { authenticateToken, type Principal, type PrincipalKind } from "./api-tokens.js";

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly details?: unknown) {
    super(message);
    this.name = "ApiError";
  }
}

export type ApiRequest<Body, Query> = {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  body: Body;
  query: Query;
  principal: Principal | null;
};

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export type RouteDefinition<B extends z.ZodType, Q extends z.ZodType> = {
  method: Method;
  path: string; // find-my-way syntax: /v1/functions/:functionId
  summary: string;
  tags?: string[];
  /**
   * Token kinds allowed; "public" needs no token; "custom" lets the handler decide. `user`
   * admits a console session cookie (a state-changing request also needs its CSRF header);
   * the handler then decides what that GitHub user may see (see repository-access.ts).
   */
  auth: PrincipalKind[] | "public" | "custom";
  body?: B;
  /** A body that is not JSON (an upload), read by the handler from `req`; documented only. */
  rawBody?: { contentTypes: string[]; description: string };
  query?: Q;
  /** The body of an error answer, for an API that speaks another's error format (default: `{ error }`). */
  formatError?: (status: number, message: string, error: unknown) => unknown;
  /** Returns a JSON-serialisable value (status 200), or handles `res` itself and returns undefined. */
  handler: (request: ApiRequest<z.infer<B>, z.infer<Q>>) => Promise<unknown>;
};

const maxBodyBytes = 25 * 1024 * 1024;

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBodyBytes) throw new ApiError(413, `the request body is larger than ${maxBodyBytes / 1024 / 1024} MB`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, "the request body is not valid JSON");
  }
}

function describeZodError(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`).join("; ");
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" }).end(JSON.stringify(value));
}

export type ApiRouter = ReturnType<typeof createApiRouter>;

export function createApiRouter(options: { db: Queryable; title: string; onError?: (error: unknown, req: IncomingMessage) => void }) {
  const router = findMyWay({ ignoreTrailingSlash: true });
  const paths: Record<string, Record<string, unknown>> = {};

  function route<B extends z.ZodType = z.ZodUnknown, Q extends z.ZodType = z.ZodUnknown>(definition: RouteDefinition<B, Q>): void {
    router.on(definition.method, definition.path, (req, res, params) => {
      void (async () => {
        let principal: Principal | null = null;
        if (definition.auth !== "public") {
          principal = await authenticateToken(options.db, req.headers.authorization);
          if (!principal && !req.headers.authorization && definition.auth !== "custom" && definition.auth.includes("user")) {
            const session = await authenticateSession(options.db, req);
            if (session && definition.method !== "GET" && !hasCsrfToken(req, session.csrfToken)) {
              throw new ApiError(403, "this request needs the session's CSRF token in the x-slipway-csrf header (GET /auth/session gives it); reload the console");
            }
            principal = session?.principal ?? null;
          }
          if (definition.auth !== "custom") {
            if (!principal) {
              throw new ApiError(401, definition.auth.includes("user") ? "this endpoint needs an API token (`Authorization: Bearer slw_…`) or a console session (sign in with GitHub at /dashboard)" : "this endpoint needs an API token: send `Authorization: Bearer slw_…`");
            }
            if (!definition.auth.includes(principal.kind)) {
              const tokenKinds = definition.auth.filter((kind) => kind !== "user");
              throw new ApiError(403, `this endpoint needs a ${tokenKinds.join(" or ")} token; this token is a ${principal.kind} token`);
            }
          }
        }
        const url = new URL(req.url ?? "/", "http://local");
        const query = definition.query ? definition.query.safeParse(Object.fromEntries(url.searchParams)) : { success: true as const, data: undefined };
        if (!query.success) throw new ApiError(400, describeZodError(query.error));
        let body: unknown;
        if (definition.body) {
          const parsed = definition.body.safeParse(await readBody(req));
          if (!parsed.success) throw new ApiError(400, describeZodError(parsed.error));
          body = parsed.data;
        }
        const result = await definition.handler({ req, res, params: params as Record<string, string>, body: body as z.infer<B>, query: query.data as z.infer<Q>, principal });
        if (result !== undefined && !res.headersSent) sendJson(res, 200, result);
      })().catch((error: unknown) => {
        if (!(error instanceof ApiError)) options.onError?.(error, req);
        if (res.headersSent) return res.end();
        if (definition.formatError) {
          if (error instanceof ApiError) sendJson(res, error.status, definition.formatError(error.status, error.message, error));
          else sendJson(res, 500, definition.formatError(500, "internal error", error));
        } else if (error instanceof ApiError) sendJson(res, error.status, { error: error.message, ...(error.details ? { details: error.details } : {}) });
        else sendJson(res, 500, { error: "internal error" });
      });
    });

    const openApiPath = definition.path.replace(/:([A-Za-z]+)/g, "{$1}");
    const parameters = [...definition.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
    if (definition.query) {
      const schema = z.toJSONSchema(definition.query, { io: "input", unrepresentable: "any" }) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, property] of Object.entries(schema.properties ?? {})) {
        parameters.push({ name, in: "query", required: (schema.required ?? []).includes(name), schema: property as { type: string } });
      }
    }
    paths[openApiPath] ??= {};
    paths[openApiPath]![definition.method.toLowerCase()] = {
      summary: definition.summary,
      ...(definition.tags ? { tags: definition.tags } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(definition.auth === "public"
        ? { security: [] }
        : Array.isArray(definition.auth) && definition.auth.includes("user")
          ? // A console session works too; a state-changing call with it also needs its CSRF header.
            { security: [{ token: [] }, definition.method === "GET" ? { session: [] } : { session: [], csrf: [] }] }
          : {}),
      ...(definition.body
        ? { requestBody: { required: true, content: { "application/json": { schema: z.toJSONSchema(definition.body, { io: "input", unrepresentable: "any" }) } } } }
        : definition.rawBody
          ? { requestBody: { required: true, description: definition.rawBody.description, content: Object.fromEntries(definition.rawBody.contentTypes.map((type) => [type, { schema: { type: "string", format: "binary" } }])) } }
          : {}),
      responses: { "200": { description: "OK" }, "4XX": { description: "A JSON `{ error }` that says what is wrong" } },
    };
  }

  /** Describes an operation that another handler serves (the console's /auth/* routes). */
  function document(method: Method, path: string, operation: Record<string, unknown>): void {
    paths[path] ??= {};
    paths[path]![method.toLowerCase()] = operation;
  }

  function openApiDocument() {
    return {
      openapi: "3.1.0",
      info: { title: options.title, version: "1" },
      components: {
        securitySchemes: {
          token: { type: "http", scheme: "bearer", description: "An API token (`slw_…`), from `slipway token create`" },
          session: {
            type: "apiKey",
            in: "cookie",
            name: "slipway_session",
            description: "A console session: signing in with GitHub at `GET /auth/github` sets this HttpOnly, SameSite=Lax cookie. The routes that take it say so; it sees what the GitHub user may read, and acts where they may write.",
          },
          csrf: {
            type: "apiKey",
            in: "header",
            name: "x-slipway-csrf",
            description: "The session's CSRF token, from `GET /auth/session`; every state-changing call made with the session cookie must carry it",
          },
        },
      },
      security: [{ token: [] }],
      paths,
    };
  }

  route({ method: "GET", path: "/v1/openapi.json", summary: "This API's OpenAPI description", auth: "public", handler: async () => openApiDocument() });

  return {
    route,
    document,
    openApiDocument,
    /** Handles the request if a route matches; returns false otherwise. */
    handle(req: IncomingMessage, res: ServerResponse): boolean {
      const found = router.find((req.method ?? "GET") as Method, (req.url ?? "/").split("?")[0]!);
      if (!found) return false;
      router.lookup(req, res);
      return true;
    },
  };
}
