// Owns the CLI's HTTP calls to Slipway: the app's REST API (SLIPWAY_API_URL) and the
// gateway's executions API, whose address the app gives at GET /v1/info. Every way a call
// can fail becomes a CliError that names the setting to fix: an unreachable address, a
// refused token, a server that is not Slipway, or the API's own refusal.
import type { Readable } from "node:stream";
import { request } from "undici";
import { CliError } from "./cli-error.js";
import { slipwayVersion } from "../config/slipway-version.js";
import type { CliSettings } from "./cli-settings.js";
import { resolveFunction, type NamedFunction } from "./resolve-function.js";

export type ApiFunction = NamedFunction & { runtime: string; branch: string; aliases: { alias: string; version: number | null; pinned: boolean; deploymentId: string }[]; url: string };
export type ApiInfo = { name: string; version: string; apiUrl: string; dashboardUrl: string; executionsUrl: string; token: { name: string; kind: string } | null };

type CallOptions = { body?: unknown; raw?: Readable; headers?: Record<string, string>; /** default: the app */ target?: "app" | "gateway"; needsToken?: boolean };

// The upload route records a deployment as made `via: cli` by this prefix.
const userAgent = `slipway-cli/${slipwayVersion()}`;

function errorCode(error: unknown): string | undefined {
  const seen = error as { code?: string; cause?: { code?: string }; errors?: { code?: string }[] };
  return seen.code ?? seen.cause?.code ?? seen.errors?.[0]?.code;
}

function transportReason(error: unknown): string {
  const code = errorCode(error);
  if (code === "ECONNREFUSED") return "the connection was refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "no such host";
  if (code === "ETIMEDOUT" || code === "UND_ERR_CONNECT_TIMEOUT") return "the connection timed out";
  if (code === "ECONNRESET" || code === "UND_ERR_SOCKET") return "the connection was closed";
  return error instanceof Error ? error.message : String(error);
}

export function createApiClient(settings: CliSettings) {
  let info: Promise<ApiInfo> | undefined;
  let functions: Promise<ApiFunction[]> | undefined;

  const describe = (target: "app" | "gateway", base: string) =>
    target === "app" ? `the Slipway API at ${settings.apiUrlSource}` : `Slipway's executions API at ${base} (the gateway's address, which the app gives from its SLIPWAY_PUBLIC_URL)`;

  async function send(method: string, path: string, options: CallOptions = {}) {
    const target = options.target ?? "app";
    const base = target === "app" ? settings.apiUrl : (await getInfo()).executionsUrl.replace(/\/+$/, "");
    try {
      new URL(base);
    } catch {
      throw new CliError(target === "app" ? `SLIPWAY_API_URL is not a URL: ${settings.apiUrlSource}` : `the app gives an executions URL that is not a URL (${base}); set SLIPWAY_PUBLIC_URL on the Slipway host`);
    }
    if (options.needsToken !== false && !settings.token) {
      throw new CliError("no API token: run `slipway login` or set SLIPWAY_TOKEN (an operator creates one with `slipway token create --name <you>`)");
    }
    const headers: Record<string, string> = { "user-agent": userAgent, ...(settings.token ? { authorization: `Bearer ${settings.token}` } : {}), ...options.headers };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    try {
      return {
        where: describe(target, base),
        response: await request(`${base}${path}`, {
          method: method as "GET",
          headers,
          bodyTimeout: 0,
          ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : options.raw ? { body: options.raw } : {}),
        }),
      };
    } catch (error) {
      throw new CliError(`cannot reach ${describe(target, base)}: ${transportReason(error)}; is Slipway running there?`);
    }
  }

  async function refusal(statusCode: number, text: string, where: string): Promise<CliError> {
    let message: string | undefined;
    try {
      message = (JSON.parse(text) as { error?: string }).error;
    } catch {
      message = undefined;
    }
    // A route miss: the address is a Slipway server, but not the part that serves this call.
    if (message === undefined || (statusCode === 404 && message === "not found")) {
      return new CliError(`${where} answered HTTP ${statusCode} with something other than Slipway's API; is that the app's address (port 3000 by default)?`);
    }
    if (statusCode === 401) {
      return new CliError(`the token was refused (${settings.tokenSource}): create one with \`slipway token create --name <you>\` on the Slipway host and save it with \`slipway login\``);
    }
    if (statusCode === 403) return new CliError(`${message} (${settings.tokenSource})`);
    if (statusCode >= 500) return new CliError(`Slipway failed (HTTP ${statusCode}: ${message}); its log says why`);
    return new CliError(message);
  }

  async function call<T>(method: string, path: string, options: CallOptions = {}): Promise<{ status: number; body: T }> {
    const { response, where } = await send(method, path, options);
    const text = await response.body.text();
    if (response.statusCode >= 400) throw await refusal(response.statusCode, text, where);
    try {
      return { status: response.statusCode, body: (text ? JSON.parse(text) : {}) as T };
    } catch {
      throw new CliError(`${where} answered something other than JSON; is that the app's address (port 3000 by default)?`);
    }
  }

  function getInfo(): Promise<ApiInfo> {
    info ??= call<ApiInfo>("GET", "/v1/info", { needsToken: false }).then((r) => {
      if (r.body.name !== "slipway") throw new CliError(`the server at ${settings.apiUrlSource} is not Slipway's API`);
      return r.body;
    });
    return info;
  }

  return {
    settings,
    info: getInfo,
    get: async <T>(path: string, options?: CallOptions) => (await call<T>("GET", path, options)).body,
    post: async <T>(path: string, body: unknown = {}, options?: CallOptions) => (await call<T>("POST", path, { ...options, body })).body,
    put: async <T>(path: string, body: unknown, options?: CallOptions) => (await call<T>("PUT", path, { ...options, body })).body,
    delete: async <T>(path: string, options?: CallOptions) => (await call<T>("DELETE", path, options)).body,
    /** A raw body (an upload); answers status and JSON. */
    upload: <T>(path: string, raw: Readable, headers: Record<string, string>) => call<T>("POST", path, { raw, headers }),
    /** Streams a text body to `write` as it arrives. */
    async stream(path: string, write: (text: string) => void): Promise<void> {
      const { response, where } = await send("GET", path);
      if (response.statusCode >= 400) throw await refusal(response.statusCode, await response.body.text(), where);
      for await (const chunk of response.body) write((chunk as Buffer).toString("utf8"));
    },
    functions(): Promise<ApiFunction[]> {
      functions ??= call<{ functions: ApiFunction[] }>("GET", "/v1/functions").then((r) => r.body.functions);
      return functions;
    },
    async findFunction(name: string): Promise<ApiFunction> {
      return resolveFunction(await this.functions(), name);
    },
  };
}

export type ApiClient = ReturnType<typeof createApiClient>;
