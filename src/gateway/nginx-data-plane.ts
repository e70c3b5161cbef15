// Owns the gateway's native data plane (SLIPWAY_DATA_PLANE=nginx): an nginx process that
// serves function URLs straight to their runtime containers, so a call to an `execute: any`
// function runs no JavaScript of the gateway's on its way, and one that needs a token only a
// cached check (an auth_request subrequest to the gateway). The gateway stays the control
// plane; it records each call from the line nginx writes for it to a buffered access log.
// nginx hands everything it does not route itself to the gateway's own HTTP server behind
// it: refused calls, /d/ URLs, the APIs, routes this gateway has no container for, and calls
// carrying a platform header (x-slipway-*, x-appwrite-*, x-open-runtimes-*) that the
// contract does not name, since nginx can clear a client's header only by name.
//
// nginx's configuration never changes while it runs, so nginx is never reloaded: a reload
// makes every worker close its idle kept-alive connections, and a client that sends its
// next request on one at that moment gets "other side closed". Instead nginx looks each
// call's route up when the call arrives: every route is one small file, routes/<key>, one
// line of fields, which a few lines of njs (nginx's own JavaScript module, read once per
// request and kept for the rest of it) read for the request. The gateway replaces a route's
// file with an atomic rename, so a switch is served by the very next request, on every
// worker and every kept-alive connection, and a request in flight keeps the route it began
// with.
//
// nginx cannot take a proxy timeout from a variable, so each call is rewritten to one of a
// fixed set of internal locations, one per timeout a function URL may have (1 to 30 s) and
// per kind (public, or needing a token).
//
// nginx runs under `setpriv --pdeathsig` where util-linux has it, so it dies with the
// gateway even on SIGKILL; a master left over from an earlier run (its pid file) is
// stopped before a new one starts.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { get } from "node:http";
import { join } from "node:path";
import type { Logger } from "pino";
import { clearedHeaderNames, logIdHeader, platformHeaderPrefixes, runtimeCallHeaders, runtimeTimeoutSeconds, syncTimeoutCeilingSeconds, timeoutHeader } from "../runtime-contract/call-contract.js";
import { followAccessLog } from "./follow-access-log.js";
import type { PortRange } from "./runtime-containers.js";

/** A route nginx serves itself: /fn/<key>/ to one running container. */
export type FastRoute = {
  key: string;
  functionId: string;
  deploymentId: string;
  containerId: string;
  /** host:port of the runtime container. */
  upstream: string;
  runtimeSecret: string;
  timeoutSeconds: number;
  /** The function's short-lived API key (x-slipway-key). */
  executionKey: string;
  /**
   * Not public (`users`, `team:`, `key:`): each call is first put to the gateway, which
   * checks its token (cached) and answers allowed or not; a refused call is handed to the
   * gateway's own proxy, which refuses it with the reason.
   */
  needsToken: boolean;
};

/** One call nginx served, as its access log line tells it. */
export type DataPlaneCall = {
  executionId: string;
  functionId: string;
  deploymentId: string;
  containerId: string;
  method: string;
  path: string;
  statusCode: number;
  logId: string | null;
  startedAt: Date;
  durationMs: number;
  timeoutSeconds: number;
  /** answered: the function's response; timed_out: nginx's 504; unreachable: nginx's 502. */
  outcome: "answered" | "timed_out" | "unreachable";
};

export type DataPlaneOptions = {
  binary: string;
  /** nginx's njs module (ngx_http_js_module.so); a bare "auto" looks in the usual places. */
  jsModule: string;
  workers: string;
  dir: string;
  host: string;
  port: number;
  /** The gateway's own server, for everything nginx does not route itself. */
  gatewayPort: number;
  apiUrl: string;
  /** Where runtimes are published: nginx keeps kept-alive connections per port of the range. */
  runtimeHost: string;
  runtimePorts: PortRange | null;
  /** The largest request body a call may carry (413 above it). */
  maxRequestMb: number;
  log: Logger;
  onCall(call: DataPlaneCall): void;
  /** nginx stopped by itself: the gateway cannot serve without it. */
  onExit(code: number | null): void;
};

export type DataPlane = {
  /** Serves the route from the next request on, on every worker and kept-alive connection. */
  setRoute(route: FastRoute): void;
  /** From the next request on, calls to this route go to the gateway's own server. */
  deleteRoute(key: string): void;
  /** Rejects with the reason when nginx has exited or does not answer. */
  checkServing(): Promise<void>;
  close(): Promise<void>;
};

const startTimeoutMs = 10_000;
const callLogName = "calls.log";
const setprivPaths = ["/usr/bin/setpriv", "/bin/setpriv"];
const jsModulePaths = [
  "/usr/lib/nginx/modules/ngx_http_js_module.so",
  "/usr/lib64/nginx/modules/ngx_http_js_module.so",
  "/usr/local/lib/nginx/modules/ngx_http_js_module.so",
  "/etc/nginx/modules/ngx_http_js_module.so",
  "/usr/local/nginx/modules/ngx_http_js_module.so",
];

/** A bare name is looked up on PATH, then in the sbin folders a user's PATH may lack. */
export function findBinary(name: string): string {
  if (name.includes("/")) return name;
  const folders = [...(process.env.PATH ?? "").split(":").filter(Boolean), "/usr/sbin", "/sbin", "/usr/local/sbin"];
  const found = folders.map((folder) => join(folder, name)).find((path) => existsSync(path));
  if (!found) throw new Error(`SLIPWAY_DATA_PLANE=nginx needs nginx, and ${name} is not on PATH; install nginx or set SLIPWAY_NGINX_BINARY`);
  return found;
}

export function findJsModule(setting: string): string {
  if (setting !== "auto") return setting;
  const found = jsModulePaths.find((path) => existsSync(path));
  if (!found) throw new Error("SLIPWAY_DATA_PLANE=nginx needs nginx's njs module (Debian: libnginx-mod-http-js), and none was found; install it or set SLIPWAY_NGINX_JS_MODULE");
  return found;
}

/** A value safe inside an nginx double-quoted string: no quotes, escapes, variables or controls. */
function quoted(value: string, what: string): string {
  if (!/^[\x21-\x7e]*$/.test(value) || /["'\\$;{}]/.test(value)) throw new Error(`${what} cannot be written into nginx's configuration`);
  return `"${value}"`;
}

// A route key becomes a file name: only these characters, never "." or ".." (see route-key.ts).
const safeRouteKey = /^[a-z0-9][a-z0-9._~-]*$/;
// A route file's fields, in order; each is one word of visible ASCII, so no field can split
// the line or carry a header's line break.
const routeFields = ["kind", "pool", "upstream", "functionId", "deploymentId", "containerId", "timeout", "secret", "executionKey"] as const;
const routeFormat = "slipway-route-1";
/** The nginx variable each field becomes: $slipway_<name>. */
const nginxVariable: Record<(typeof routeFields)[number], string> = {
  kind: "kind",
  pool: "pool",
  upstream: "upstream",
  functionId: "function",
  deploymentId: "deployment",
  containerId: "container",
  timeout: "timeout",
  secret: "secret",
  executionKey: "execution_key",
};

/** The nginx upstream of a runtime port in the range: its pool of kept-alive connections. */
function poolName(port: number): string {
  return `slipway_runtime_${port}`;
}

/**
 * The line nginx reads for a route (see the njs module below). A runtime published on a
 * port of the range is called through that port's upstream, whose connections nginx keeps
 * alive; any other address is called directly, a connection per call.
 */
export function routeLine(route: FastRoute, runtimes: Pick<DataPlaneOptions, "runtimeHost" | "runtimePorts">): string {
  if (!safeRouteKey.test(route.key)) throw new Error(`route key ${route.key} cannot be a route file's name`);
  if (!Number.isInteger(route.timeoutSeconds) || route.timeoutSeconds < 1 || route.timeoutSeconds > syncTimeoutCeilingSeconds) {
    throw new Error(`a function URL's timeout must be 1 to ${syncTimeoutCeilingSeconds} s, not ${route.timeoutSeconds}`);
  }
  const values: Record<(typeof routeFields)[number], string> = {
    kind: route.needsToken ? "token" : "open",
    pool: pooled(route.upstream, runtimes) ?? route.upstream,
    upstream: route.upstream,
    functionId: route.functionId,
    deploymentId: route.deploymentId,
    containerId: route.containerId,
    timeout: String(route.timeoutSeconds),
    secret: route.runtimeSecret,
    executionKey: route.executionKey,
  };
  for (const field of routeFields) if (!/^[\x21-\x7e]+$/.test(values[field])) throw new Error(`a route's ${field} cannot be written into its route file`);
  return `${routeFormat} ${routeFields.map((field) => values[field]).join(" ")}\n`;
}

function pooled(upstream: string, { runtimeHost, runtimePorts }: Pick<DataPlaneOptions, "runtimeHost" | "runtimePorts">): string | null {
  if (!runtimePorts) return null;
  const separator = upstream.lastIndexOf(":");
  const port = Number(upstream.slice(separator + 1));
  const host = upstream.slice(0, separator).replace(/^\[(.*)\]$/, "$1");
  return host === runtimeHost && port >= runtimePorts.from && port <= runtimePorts.to ? poolName(port) : null;
}

/** One upstream per port of the range, each keeping its idle connections to the runtime there. */
function runtimePools({ runtimeHost, runtimePorts }: Pick<DataPlaneOptions, "runtimeHost" | "runtimePorts">): string {
  if (!runtimePorts) return "";
  const host = runtimeHost.includes(":") ? `[${runtimeHost}]` : runtimeHost;
  const lines: string[] = [];
  for (let port = runtimePorts.from; port <= runtimePorts.to; port++) lines.push(`  upstream ${poolName(port)} { server ${host}:${port}; keepalive 64; }\n`);
  return lines.join("");
}

/**
 * The njs module: each variable nginx asks for is one field of the request's route file.
 * The file is read once per request (njs gives every request a VM of its own, so the
 * module's `fields` lives exactly as long as the request), so the proxy, the headers and
 * the call log all see one route even if the file is replaced meanwhile.
 */
const njsModule = `// Written by the Slipway gateway (src/gateway/nginx-data-plane.ts).
var fs = require("fs");
var names = ${JSON.stringify(routeFields)};
var fields = null;
function read(r) {
  if (fields !== null) return fields;
  fields = {};
  var key = r.variables.slipway_key;
  if (!key) return fields;
  var line;
  try {
    line = fs.readFileSync(r.variables.slipway_routes + "/" + key, "utf8");
  } catch (e) {
    return fields;
  }
  var words = line.trim().split(" ");
  if (words.length !== names.length + 1 || words[0] !== "${routeFormat}") return fields;
  for (var i = 0; i < names.length; i++) fields[names[i]] = words[i + 1];
  return fields;
}
// A platform header nginx does not clear by name (call.conf clears the contract's own) goes
// to the gateway's Node proxy, which drops every one of them by prefix.
var cleared = ${JSON.stringify(clearedHeaderNames)};
var prefixes = ${JSON.stringify(platformHeaderPrefixes)};
function carriesUnclearedPlatformHeader(r) {
  var raw = r.rawHeadersIn;
  for (var i = 0; i < raw.length; i++) {
    var name = raw[i][0].toLowerCase();
    for (var j = 0; j < prefixes.length; j++) {
      if (name.indexOf(prefixes[j]) === 0 && cleared.indexOf(name) === -1) return true;
    }
  }
  return false;
}
function field(name) {
  return function (r) {
    // No kind: nginx hands the call to the gateway (see @slipway_handover).
    if (name === "kind" && carriesUnclearedPlatformHeader(r)) return "";
    var value = read(r)[name];
    return value === undefined ? "" : value;
  };
}
var exported = {};
for (var i = 0; i < names.length; i++) exported[names[i]] = field(names[i]);
export default exported;
`;

/** What the gateway's own server is given: the request as the client sent it, streamed both ways. */
const toGateway = `      proxy_pass http://slipway_gateway$request_uri;
      proxy_set_header Host $http_host;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
`;

/**
 * The open-runtimes contract's headers (call-contract.ts), as nginx variables: one line per
 * header the contract names (clearedHeaderNames: those of a call and those only gateways
 * read), its value for a function-URL call or "" (which sends none, and so drops a client's copy). The timeout is set per call location.
 */
export function runtimeHeaderDirectives(apiUrl: string): string {
  const headers = runtimeCallHeaders({
    forwardedHost: "$http_host",
    secret: "$slipway_secret",
    executionId: "$slipway_execution_id",
    functionId: "$slipway_function",
    key: "$slipway_execution_key",
    apiUrl,
    trigger: "http",
    lazyLogFiles: true,
  });
  const lines: string[] = [];
  for (const name of clearedHeaderNames) {
    if (name === timeoutHeader) continue;
    const value = headers[name as keyof typeof headers] ?? "";
    // nginx variables go as they are; a literal (the public URL among them) is checked and quoted.
    lines.push(`proxy_set_header ${name} ${/^\$[a-z_]+$/.test(value) ? value : quoted(value, name === "x-slipway-api-url" ? "the public URL" : `the ${name} header`)};\n`);
  }
  return lines.join("");
}

/** The directives every call to a runtime shares (call.conf, included by each call location). */
export function callDirectives(apiUrl: string): string {
  return `# Written by the Slipway gateway: how nginx calls a runtime container.
proxy_pass http://$slipway_pool$slipway_fn_path;
proxy_set_header Host $slipway_upstream;
proxy_set_header Connection "";
${runtimeHeaderDirectives(apiUrl)}proxy_hide_header ${logIdHeader};
add_header x-slipway-execution-id $slipway_execution_id always;
error_page 504 = @slipway_timeout;
error_page 502 = @slipway_unreachable;
error_page 413 @slipway_too_large;
`;
}

/** One internal location per kind and timeout; a call is rewritten to its route's. */
function callLocations(): string {
  const out: string[] = [];
  for (const kind of ["open", "token"] as const) {
    for (let seconds = 1; seconds <= syncTimeoutCeilingSeconds; seconds++) {
      const check =
        kind === "token"
          ? `auth_request /.slipway/authorize; error_page 401 403 = @slipway_handover; `
          : "";
      // nginx enforces the timeout, so the runtime is told one second more: nginx's 504 (above) always comes first.
      out.push(
        `    location = /.slipway/call/${kind}/${seconds} { internal; ${check}include call.conf; proxy_read_timeout ${seconds}s; proxy_set_header ${timeoutHeader} "${runtimeTimeoutSeconds(seconds, "caller")}"; }\n`,
      );
    }
  }
  return out.join("");
}

/** nginx's whole configuration; it does not depend on the routes, which live in files. */
export function renderNginxConfig(
  options: Pick<DataPlaneOptions, "workers" | "dir" | "host" | "port" | "gatewayPort" | "runtimeHost" | "runtimePorts" | "maxRequestMb"> & { jsModule: string; workerUser?: string },
): string {
  const { dir } = options;
  const callLog = [
    `"id":"$slipway_execution_id"`,
    `"fn":"$slipway_function"`,
    `"dep":"$slipway_deployment"`,
    `"cid":"$slipway_container"`,
    `"to":"$slipway_timeout"`,
    `"m":"$request_method"`,
    `"s":"$status"`,
    `"lid":"$upstream_http_x_open_runtimes_log_id"`,
    `"ht":"$upstream_header_time"`,
    `"t":"$request_time"`,
    `"at":"$msec"`,
    `"p":"$slipway_fn_path"`,
  ].join(",");
  return `# Written by the Slipway gateway at start; it does not change while nginx runs.
load_module ${quoted(options.jsModule, "the njs module's path")};
${options.workerUser ? `user ${options.workerUser};
` : ""}worker_processes ${options.workers};
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 8192; }
http {
  server_tokens off;
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  # Bodies stream through as they do through the gateway's own proxy; its limits apply.
  client_max_body_size ${options.maxRequestMb}m;
  underscores_in_headers on;
  proxy_http_version 1.1;
  proxy_request_buffering off;
  proxy_max_temp_file_size 0;
  proxy_connect_timeout 5s;
  # nginx's request id, shaped as a version-4 UUID, is the execution id.
  map $request_id $slipway_execution_id {
    "~^(?<a>.{8})(?<b>.{4}).(?<c>.{3}).(?<d>.{3})(?<e>.{12})$" "$a-$b-4$c-a$d-$e";
  }
  # The route key and the path the function sees: what follows /fn/<key>, as the client sent it.
  map $request_uri $slipway_key {
    "~^/fn/(?<k>[a-z0-9][a-z0-9._~-]*)(?:[/?]|$)" $k;
    default "";
  }
  map $request_uri $slipway_fn_path {
    "~^/fn/[a-z0-9][a-z0-9._~-]*(?<p>/[^?]*)(?<q>\\?.*)?$" "$p$q";
    "~^/fn/[a-z0-9][a-z0-9._~-]*(?<q>\\?.*)?$" "/$q";
    default "/";
  }
  # The request's route, from routes/<key> (see routes.js).
  js_import slipway from ${dir}/routes.js;
  js_var $slipway_routes ${quoted(`${dir}/routes`, "the routes folder")};
${routeFields.map((field) => `  js_set $slipway_${nginxVariable[field]} slipway.${field};\n`).join("")}  log_format slipway_call escape=json '{${callLog}}';
  upstream slipway_gateway { server 127.0.0.1:${options.gatewayPort}; keepalive 32; }
  # Runtimes are published on ports of SLIPWAY_RUNTIME_PORTS; a route names its port's pool.
${runtimePools(options)}  server {
    listen ${options.host.includes(":") ? `[${options.host}]` : options.host}:${options.port};
    # Only a call nginx sends to a runtime sets $slipway_log, so only those are logged here.
    access_log ${dir}/${callLogName} slipway_call buffer=64k flush=250ms if=$slipway_log;
    error_page 413 @slipway_too_large;
    location / {
      set $slipway_log "";
${toGateway}    }
    location /fn/ {
      set $slipway_log "1";
      error_page 418 = @slipway_handover;
      error_page 413 @slipway_too_large;
      if ($slipway_kind = "") { return 418; }
      rewrite ^ /.slipway/call/$slipway_kind/$slipway_timeout last;
    }
${callLocations()}    location = /.slipway/ready {
      set $slipway_log "";
      allow 127.0.0.1;
      allow ::1;
      deny all;
      return 200 "ready";
    }
    location @slipway_timeout {
      add_header x-slipway-execution-id $slipway_execution_id always;
      default_type application/json;
      return 504 '{"error":"the function exceeded its $slipway_timeout s timeout"}';
    }
    location @slipway_too_large {
      add_header x-slipway-execution-id $slipway_execution_id always;
      default_type application/json;
      return 413 '{"error":"the request body is larger than ${options.maxRequestMb} MB (SLIPWAY_MAX_REQUEST_MB)"}';
    }
    location @slipway_unreachable {
      add_header x-slipway-execution-id $slipway_execution_id always;
      default_type application/json;
      return 502 '{"error":"the function did not answer"}';
    }
    # Whether a call may run a function that needs a token: the gateway decides, with the
    # caller's headers and no body. Only nginx's own subrequests reach this.
    location = /.slipway/authorize {
      internal;
      proxy_pass http://slipway_gateway/.slipway/authorize/$slipway_key;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Host $http_host;
      proxy_set_header Connection "";
    }
    location @slipway_handover {
      # The gateway records these calls itself.
      set $slipway_log "";
${toGateway}    }
  }
}
`;
}

/** Parses one line of the call log; null when it is not a whole call line. */
export function parseCallLine(text: string): DataPlaneCall | null {
  let line: Record<string, string>;
  try {
    line = JSON.parse(text) as Record<string, string>;
  } catch {
    return null;
  }
  const statusCode = Number(line.s);
  const seconds = Number(line.t);
  const loggedAt = Number(line.at);
  if (!line.id || !line.fn || !line.dep || !Number.isFinite(statusCode) || !Number.isFinite(seconds) || !Number.isFinite(loggedAt)) return null;
  const answered = line.ht !== "-" && line.ht !== "";
  return {
    executionId: line.id,
    functionId: line.fn,
    deploymentId: line.dep,
    containerId: line.cid ?? "",
    method: line.m ?? "GET",
    path: line.p ?? "/",
    statusCode,
    logId: line.lid ? line.lid : null,
    // nginx gives both to the millisecond.
    startedAt: new Date(Math.round((loggedAt - seconds) * 1000)),
    durationMs: Math.round(seconds * 1000),
    timeoutSeconds: Number(line.to) || 0,
    outcome: answered ? "answered" : statusCode === 504 ? "timed_out" : "unreachable",
  };
}

async function stopLeftoverMaster(pidFile: string, log: Logger): Promise<void> {
  const pid = Number((await readFile(pidFile, "utf8").catch(() => "")).trim());
  if (!pid) return;
  const command = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  if (!command.includes("nginx")) return;
  log.warn({ pid }, "stopping an nginx left over from an earlier gateway");
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
}


function probeReady(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const request = get({ host, port, path: "/.slipway/ready", agent: false, timeout: 1000 }, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode === 200));
    });
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", () => resolve(false));
  });
}

export async function startNginxDataPlane(options: DataPlaneOptions): Promise<DataPlane> {
  const { dir, log } = options;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const routesDir = join(dir, "routes");
  // Routes from an earlier run are stale; the gateway writes its own before it serves.
  await rm(routesDir, { recursive: true, force: true });
  await mkdir(routesDir, { mode: 0o700 });
  const confPath = join(dir, "nginx.conf");
  await stopLeftoverMaster(join(dir, "nginx.pid"), log);
  const probeHost = options.host === "0.0.0.0" ? "127.0.0.1" : options.host === "::" ? "::1" : options.host;

  // nginx's workers run as the gateway's own user, which can reach the folder wherever it
  // is (they read the route files and reopen the call log); run as root, nginx would
  // otherwise make them nobody.
  const workerUser = process.getuid?.() === 0 ? "root" : undefined;
  const jsModule = findJsModule(options.jsModule);
  await writeFile(join(dir, "routes.js"), njsModule, { mode: 0o600 });
  await writeFile(join(dir, "call.conf"), callDirectives(options.apiUrl), { mode: 0o600 });
  await writeFile(confPath, renderNginxConfig({ ...options, jsModule, ...(workerUser ? { workerUser } : {}) }), { mode: 0o600 });
  let lastError = "";

  const binary = findBinary(options.binary);
  const args = ["-p", dir, "-c", confPath, "-g", "daemon off;"];
  const setpriv = setprivPaths.find((path) => existsSync(path));
  const child: ChildProcess = setpriv ? spawn(setpriv, ["--pdeathsig", "TERM", binary, ...args], { stdio: ["ignore", "ignore", "pipe"] }) : spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"] });
  let closing = false;
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (text: string) => {
    for (const line of text.split("\n").filter(Boolean)) {
      lastError = line;
      log.warn({ nginx: line }, "nginx");
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.once("error", (error) => log.error({ err: error }, "nginx could not be started"));
  void exited.then((code) => {
    if (!closing) options.onExit(code);
  });

  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${lastError}`);
    if (await probeReady(probeHost, options.port)) break;
    if (Date.now() > deadline) throw new Error(`nginx did not start serving within ${startTimeoutMs / 1000} s: ${lastError || "no error reported"}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const calls = await followAccessLog({
    path: join(dir, callLogName),
    intervalMs: 250,
    rotateAtBytes: 64 * 1024 * 1024,
    reopen: () => child.kill("SIGUSR1"),
    onLine(line) {
      const call = parseCallLine(line);
      if (call) options.onCall(call);
      else log.warn("an nginx access log line could not be read; that call is not recorded");
    },
    onError: (error) => log.error({ err: { message: error.message } }, "could not read nginx's call log"),
  });

  // What each route file holds, so an unchanged route (a key renewal that kept its key) is not rewritten.
  const written = new Map<string, string>();
  return {
    setRoute(route) {
      const line = routeLine(route, options);
      if (written.get(route.key) === line) return;
      // Synchronous and atomic: the file is whole for every reader, and in place before the caller answers.
      const path = join(routesDir, route.key);
      writeFileSync(`${path}.next`, line, { mode: 0o600 });
      renameSync(`${path}.next`, path);
      written.set(route.key, line);
    },
    deleteRoute(key) {
      if (!safeRouteKey.test(key)) return;
      written.delete(key);
      try {
        unlinkSync(join(routesDir, key));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
    },
    async checkServing() {
      if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${lastError || "no error reported"}`);
      if (!(await probeReady(probeHost, options.port))) throw new Error(`nginx does not answer on SLIPWAY_GATEWAY_PORT ${options.port}`);
    },
    async close() {
      closing = true;
      if (child.exitCode === null) {
        child.kill("SIGQUIT");
        const forced = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(forced);
      }
      await calls.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
