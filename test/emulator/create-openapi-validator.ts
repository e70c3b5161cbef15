import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";

const addFormats = addFormatsModule.default;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface OpenApiParameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  schema?: JsonObject;
}

interface OpenApiOperation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  parameters?: JsonObject[];
  requestBody?: JsonObject;
  responses?: Record<string, JsonObject>;
  externalDocs?: { url?: string };
}

interface OpenApiDocument {
  paths: Record<string, Record<string, JsonObject>>;
  components: Record<string, Record<string, JsonObject>>;
  "x-webhooks"?: Record<string, Record<string, JsonObject>>;
}

/** One problem found by ajv, in a compact serialisable form. */
export interface SchemaIssue {
  instancePath: string;
  keyword: string;
  message: string;
  params: Record<string, unknown>;
  schemaPath: string;
}

/** An item of GitHub's `validation-error.errors` array. */
export interface GitHubValidationErrorItem {
  resource: string;
  field: string;
  code: string;
  message: string;
  value?: string | number | string[] | null;
}

export interface MatchedOperation {
  method: string;
  /** The OpenAPI path template, e.g. `/repos/{owner}/{repo}/check-runs`. */
  template: string;
  operationId: string;
  documentationUrl: string;
  /** Decoded path parameters. */
  params: Record<string, string>;
  resource: string;
}

export interface RequestValidationInput {
  query: Record<string, string | string[]>;
  /** Parsed JSON body, or undefined when the request had none. */
  body: unknown;
}

export interface RequestValidationResult {
  bodyIssues: SchemaIssue[];
  queryIssues: SchemaIssue[];
}

export interface OpenApiValidator {
  /** Finds the operation for a method and a raw (still percent-encoded) path. */
  match(method: string, rawPath: string): MatchedOperation | null;
  /** True when some method is described for this path (used to tell 404 from "method not described"). */
  pathKnown(rawPath: string): boolean;
  validateRequest(op: MatchedOperation, input: RequestValidationInput): RequestValidationResult;
  /** Validates a response body against the operation's schema for that status (empty when none described). */
  validateResponse(op: MatchedOperation, status: number, body: unknown): SchemaIssue[];
  /** Validates a webhook payload against `x-webhooks[<key>]`, e.g. `push`, `pull-request-opened`. */
  validateWebhook(key: string, payload: unknown): SchemaIssue[];
  /** Converts ajv issues into GitHub's `errors` array for a 422 response. */
  toGitHubErrors(op: MatchedOperation, issues: SchemaIssue[]): GitHubValidationErrorItem[];
}

type PathSegment = { literal: string } | { regex: RegExp; names: string[] };

interface PathTemplate {
  template: string;
  segments: PathSegment[];
  literalCount: number;
  greedyLast: boolean;
}

const SKIPPED_KEYWORDS = new Set([
  "nullable",
  "example",
  "examples",
  "discriminator",
  "xml",
  "externalDocs",
  "deprecated",
  "readOnly",
  "writeOnly",
]);
const SCHEMA_MAP_KEYWORDS = new Set(["properties", "patternProperties", "definitions", "$defs"]);
const SCHEMA_KEYWORDS = new Set(["items", "additionalProperties", "not", "propertyNames", "contains", "additionalItems"]);
const SCHEMA_ARRAY_KEYWORDS = new Set(["allOf", "anyOf", "oneOf"]);

let specPromise: Promise<OpenApiDocument> | null = null;

/** Locates `@octokit/openapi`'s api.github.com description inside node_modules. */
export function openApiDescriptionPath(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve("@octokit/openapi/package.json");
  return join(dirname(pkg), "generated", "api.github.com.json");
}

function loadSpec(): Promise<OpenApiDocument> {
  specPromise ??= readFile(openApiDescriptionPath(), "utf8").then((text) => JSON.parse(text) as OpenApiDocument);
  return specPromise;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function compileTemplate(template: string): PathTemplate {
  const parts = template.split("/").slice(1);
  let literalCount = 0;
  const segments = parts.map((part): PathSegment => {
    if (!part.includes("{")) {
      literalCount++;
      return { literal: part };
    }
    const names: string[] = [];
    const source = part
      .split(/(\{[^}]+\})/)
      .map((piece) => {
        const m = /^\{([^}]+)\}$/.exec(piece);
        if (m?.[1]) {
          names.push(m[1]);
          // `{path}` may be empty: GET /repos/{owner}/{repo}/contents/ lists the root directory.
          return m[1] === "path" ? "(.*?)" : "(.+?)";
        }
        return escapeRegex(piece);
      })
      .join("");
    return { regex: new RegExp(`^${source}$`), names };
  });
  const last = segments.at(-1);
  const greedyLast = !!last && "names" in last && last.names.length === 1 && ["path", "basehead"].includes(last.names[0] ?? "");
  return { template, segments, literalCount, greedyLast };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function matchTemplate(t: PathTemplate, rawSegments: string[], allowGreedy: boolean): Record<string, string> | null {
  let segs = rawSegments;
  if (rawSegments.length !== t.segments.length) {
    if (!allowGreedy || !t.greedyLast || rawSegments.length < t.segments.length) return null;
    const head = rawSegments.slice(0, t.segments.length - 1);
    segs = [...head, rawSegments.slice(t.segments.length - 1).join("/")];
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < t.segments.length; i++) {
    const seg = t.segments[i];
    const raw = segs[i] ?? "";
    if (!seg) return null;
    if ("literal" in seg) {
      if (seg.literal !== raw) return null;
      continue;
    }
    const m = seg.regex.exec(raw);
    if (!m) return null;
    seg.names.forEach((name, n) => {
      params[name] = safeDecode(m[n + 1] ?? "");
    });
  }
  return params;
}

function toIssue(e: ErrorObject): SchemaIssue {
  return {
    instancePath: e.instancePath,
    keyword: e.keyword,
    message: e.message ?? e.keyword,
    params: e.params as Record<string, unknown>,
    schemaPath: e.schemaPath,
  };
}

/**
 * Builds a validator over GitHub's published OpenAPI description (`@octokit/openapi`,
 * api.github.com). OpenAPI 3.0 schemas are converted to JSON Schema (nullable → null type,
 * components → definitions) and compiled lazily per operation, then cached.
 */
export async function createOpenApiValidator(): Promise<OpenApiValidator> {
  const spec = await loadSpec();
  const templates = Object.keys(spec.paths)
    .map(compileTemplate)
    .sort((a, b) => b.literalCount - a.literalCount || a.segments.length - b.segments.length);

  const bodyAjv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  const queryAjv = new Ajv({ strict: false, allErrors: true, coerceTypes: "array", validateFormats: true });
  // Responses: GitHub sends "" for unset URL fields its description marks `format: uri`
  // (deployment statuses' target_url/log_url/environment_url), so "" passes there.
  const responseAjv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  for (const ajv of [bodyAjv, queryAjv, responseAjv]) {
    addFormats(ajv);
    ajv.addFormat("repo.nwo", /^[^/\s]+\/[^/\s]+$/);
    ajv.addFormat("timestamp", true);
  }
  responseAjv.addFormat("uri", { type: "string", validate: (value: string) => value === "" || /^[a-z][a-z0-9+.-]*:[^\s]*$/i.test(value) });

  // ---- OpenAPI 3.0 → JSON Schema conversion (memoised per component) ----
  const converted = new Map<string, { schema: JsonObject; deps: Set<string> }>();

  function componentName(ref: string): string | null {
    const m = /^#\/components\/schemas\/(.+)$/.exec(ref);
    return m?.[1] ? m[1].replace(/~1/g, "/").replace(/~0/g, "~") : null;
  }

  function deref<T = JsonObject>(node: JsonObject | undefined): T | undefined {
    let current: JsonObject | undefined = node;
    for (let guard = 0; current && typeof current.$ref === "string" && guard < 10; guard++) {
      const parts = current.$ref.replace(/^#\//, "").split("/");
      let target: Json | undefined = spec as unknown as Json;
      for (const part of parts) {
        target = isObject(target) ? target[part.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined;
      }
      current = isObject(target) ? target : undefined;
    }
    return current as T | undefined;
  }

  function convert(node: Json, deps: Set<string>): Json {
    if (Array.isArray(node)) return node.map((n) => convert(n, deps));
    if (!isObject(node)) return node;
    if (typeof node.$ref === "string") {
      const name = componentName(node.$ref);
      if (name === null) {
        const target = deref(node);
        return target ? convert(target, deps) : {};
      }
      deps.add(name);
      return { $ref: `#/definitions/${name.replace(/~/g, "~0").replace(/\//g, "~1")}` };
    }
    const out: JsonObject = {};
    for (const [key, value] of Object.entries(node)) {
      if (SKIPPED_KEYWORDS.has(key) || key.startsWith("x-")) continue;
      if (SCHEMA_MAP_KEYWORDS.has(key) && isObject(value)) {
        const mapped: JsonObject = {};
        for (const [k, v] of Object.entries(value)) mapped[k] = convert(v, deps);
        out[key] = mapped;
      } else if (SCHEMA_KEYWORDS.has(key) && (isObject(value) || Array.isArray(value))) {
        out[key] = convert(value, deps);
      } else if (SCHEMA_ARRAY_KEYWORDS.has(key) && Array.isArray(value)) {
        // GitHub's oneOf branches frequently overlap (e.g. two nullable branches); anyOf is what the API actually enforces.
        out[key === "oneOf" ? "anyOf" : key] = value.map((v) => convert(v, deps));
      } else {
        out[key] = value;
      }
    }
    if (node.nullable === true) {
      if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
      if (typeof out.type === "string") {
        out.type = [out.type, "null"];
      } else if (out.type === undefined && !Array.isArray(out.enum)) {
        return { anyOf: [out, { type: "null" }] };
      }
    }
    return out;
  }

  function convertComponent(name: string): { schema: JsonObject; deps: Set<string> } {
    const cached = converted.get(name);
    if (cached) return cached;
    const deps = new Set<string>();
    const entry = { schema: {} as JsonObject, deps };
    converted.set(name, entry); // set first: components can be recursive
    const source = spec.components.schemas?.[name];
    entry.schema = source ? (convert(source, deps) as JsonObject) : {};
    return entry;
  }

  /** Wraps a converted schema with the transitive closure of the components it references. */
  function standalone(schema: JsonObject, deps: Set<string>): JsonObject {
    const definitions: JsonObject = {};
    const pending = [...deps];
    while (pending.length > 0) {
      const name = pending.pop();
      if (name === undefined || name in definitions) continue;
      const component = convertComponent(name);
      definitions[name] = component.schema;
      for (const dep of component.deps) if (!(dep in definitions)) pending.push(dep);
    }
    return { ...schema, definitions: { ...(isObject(schema.definitions) ? schema.definitions : {}), ...definitions } };
  }

  function compileSchema(ajv: Ajv, source: JsonObject): ValidateFunction {
    const deps = new Set<string>();
    const schema = convert(source, deps) as JsonObject;
    return ajv.compile(standalone(schema, deps));
  }

  function operationOf(op: MatchedOperation): OpenApiOperation {
    return spec.paths[op.template]?.[op.method.toLowerCase()] as OpenApiOperation;
  }

  // ---- caches ----
  const bodyValidators = new Map<string, ValidateFunction | null>();
  const queryValidators = new Map<string, ValidateFunction | null>();
  const responseValidators = new Map<string, ValidateFunction | null>();
  const webhookValidators = new Map<string, ValidateFunction | null>();
  const requestBodyRequired = new Map<string, boolean>();

  function bodyValidator(op: MatchedOperation): ValidateFunction | null {
    const key = `${op.method} ${op.template}`;
    if (!bodyValidators.has(key)) {
      const requestBody = deref(operationOf(op).requestBody);
      const content = isObject(requestBody?.content) ? requestBody.content : undefined;
      const media = content ? (content["application/json"] ?? Object.values(content)[0]) : undefined;
      const schema = isObject(media) && isObject(media.schema) ? media.schema : undefined;
      requestBodyRequired.set(key, requestBody?.required === true);
      bodyValidators.set(key, schema ? compileSchema(bodyAjv, schema) : null);
    }
    return bodyValidators.get(key) ?? null;
  }

  function queryValidator(op: MatchedOperation): ValidateFunction | null {
    const key = `${op.method} ${op.template}`;
    if (!queryValidators.has(key)) {
      const params = [
        ...((spec.paths[op.template]?.parameters as JsonObject[] | undefined) ?? []),
        ...(operationOf(op).parameters ?? []),
      ]
        .map((p) => deref<OpenApiParameter>(p))
        .filter((p): p is OpenApiParameter => !!p && p.in === "query");
      if (params.length === 0) {
        queryValidators.set(key, null);
      } else {
        const properties: JsonObject = {};
        const required: string[] = [];
        for (const p of params) {
          properties[p.name] = p.schema ?? {};
          if (p.required) required.push(p.name);
        }
        queryValidators.set(key, compileSchema(queryAjv, { type: "object", properties, required }));
      }
    }
    return queryValidators.get(key) ?? null;
  }

  return {
    match(method, rawPath) {
      const upper = method.toUpperCase();
      const lower = method.toLowerCase();
      if (/^\/repos\/[^/]+\/[^/]+\/contents$/.test(rawPath)) rawPath = `${rawPath}/`;
      const rawSegments = rawPath.replace(/\/+$/, "").split("/").slice(1);
      if (rawPath.endsWith("/") && rawPath.length > 1) rawSegments.push("");
      for (const allowGreedy of [false, true]) {
        for (const t of templates) {
          const pathItem = spec.paths[t.template];
          const operation = pathItem?.[lower] as OpenApiOperation | undefined;
          if (!operation) continue;
          const params = matchTemplate(t, rawSegments, allowGreedy);
          if (!params) continue;
          const tag = operation.tags?.[0] ?? "resource";
          return {
            method: upper,
            template: t.template,
            operationId: operation.operationId ?? `${lower} ${t.template}`,
            documentationUrl: operation.externalDocs?.url ?? "https://docs.github.com/rest",
            params,
            resource: tag,
          };
        }
      }
      return null;
    },

    pathKnown(rawPath) {
      const rawSegments = rawPath.replace(/\/+$/, "").split("/").slice(1);
      return templates.some((t) => matchTemplate(t, rawSegments, true) !== null);
    },

    validateRequest(op, input) {
      const result: RequestValidationResult = { bodyIssues: [], queryIssues: [] };
      const qv = queryValidator(op);
      if (qv && !qv(structuredClone(input.query))) result.queryIssues = (qv.errors ?? []).map(toIssue);
      const bv = bodyValidator(op);
      const key = `${op.method} ${op.template}`;
      if (bv) {
        const body = input.body === undefined && requestBodyRequired.get(key) ? {} : input.body;
        if (body !== undefined && !bv(body)) result.bodyIssues = (bv.errors ?? []).map(toIssue);
      }
      return result;
    },

    validateResponse(op, status, body) {
      const key = `${op.method} ${op.template} ${status}`;
      if (!responseValidators.has(key)) {
        const responses = operationOf(op).responses ?? {};
        const response = deref(responses[String(status)] ?? responses.default);
        const content = isObject(response?.content) ? response.content : undefined;
        const media = content?.["application/json"];
        const schema = isObject(media) && isObject(media.schema) ? media.schema : undefined;
        responseValidators.set(key, schema ? compileSchema(responseAjv, schema) : null);
      }
      const validate = responseValidators.get(key);
      if (!validate || validate(body)) return [];
      return (validate.errors ?? []).map(toIssue);
    },

    validateWebhook(key, payload) {
      if (!webhookValidators.has(key)) {
        const hook = spec["x-webhooks"]?.[key]?.post as OpenApiOperation | undefined;
        const requestBody = deref(hook?.requestBody);
        const content = isObject(requestBody?.content) ? requestBody.content : undefined;
        const media = content?.["application/json"];
        const schema = isObject(media) && isObject(media.schema) ? media.schema : undefined;
        webhookValidators.set(key, schema ? compileSchema(bodyAjv, schema) : null);
      }
      const validate = webhookValidators.get(key);
      if (validate === null || validate === undefined) {
        return [{ instancePath: "", keyword: "x-webhooks", message: `no webhook named ${key}`, params: {}, schemaPath: "" }];
      }
      return validate(payload) ? [] : (validate.errors ?? []).map(toIssue);
    },

    toGitHubErrors(op, issues) {
      return issues.map((issue) => {
        const pointer = issue.instancePath.replace(/^\//, "");
        if (issue.keyword === "required") {
          const missing = String(issue.params.missingProperty ?? "");
          const field = pointer ? `${pointer}/${missing}` : missing;
          return { resource: op.resource, field, code: "missing_field", message: `${field} wasn't supplied.` };
        }
        const field = pointer || "body";
        let message = `For '${field}', ${issue.message}.`;
        if (issue.keyword === "enum" && Array.isArray(issue.params.allowedValues)) {
          message = `For '${field}', value is not one of ${JSON.stringify(issue.params.allowedValues)}.`;
        } else if (issue.keyword === "maxLength" || issue.keyword === "maxItems") {
          message = `For '${field}', ${issue.message} (GitHub limit).`;
        }
        return { resource: op.resource, field, code: issue.keyword === "additionalProperties" ? "unprocessable" : "invalid", message };
      });
    },
  };
}
