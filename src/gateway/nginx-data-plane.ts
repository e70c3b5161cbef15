// Owns the gateway's native data plane (SLIPWAY_DATA_PLANE=nginx): an nginx process that
// serves function URLs straight to their runtime containers, so a call to an `execute: any`
// function runs no JavaScript on its way, and one that needs a token only a cached check
// (an auth_request subrequest to the gateway). The gateway stays the control
// plane. It renders nginx's configuration from its route table, reloads nginx when a route
// changes and waits until the new configuration serves, and records each call from the
// line nginx writes for it to a buffered access log. nginx hands everything it does not
// route itself to the gateway's own HTTP server behind it: refused calls, /d/ URLs, the
// APIs and routes whose container is not up.
//
// A reload takes nginx at least 100 ms (it lets new workers start before old ones stop),
// so a switch does not wait for one. The gateway first hands the route over: it creates a
// flag file the route's location checks on every request, which sends the route's calls to
// the gateway's own proxy, whose route table has already switched, whatever nginx worker
// or kept-alive connection they arrive on. The reload that follows in the background
// carries the new route, and once it serves, the flag goes.
//
// nginx runs under `setpriv --pdeathsig` where util-linux has it, so it dies with the
// gateway even on SIGKILL; a master left over from an earlier run (its pid file) is
// stopped before a new one starts.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { mkdir, readFile, rename, rm, unlink, writeFile } from "node:fs/promises";
import { get } from "node:http";
import { join } from "node:path";
import type { Logger } from "pino";
import { followAccessLog } from "./follow-access-log.js";

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
  workers: string;
  dir: string;
  host: string;
  port: number;
  /** The gateway's own server, for everything nginx does not route itself. */
  gatewayPort: number;
  apiUrl: string;
  log: Logger;
  onCall(call: DataPlaneCall): void;
  /** nginx stopped by itself: the gateway cannot serve without it. */
  onExit(code: number | null): void;
};

export type DataPlane = {
  /** Serves these routes (read when the reload starts); resolves once nginx serves them. */
  apply(routes: () => Promise<FastRoute[]>): Promise<void>;
  /** From now on, calls to this route go to the gateway's own server until a reload has caught up with it. */
  handOver(key: string): void;
  close(): Promise<void>;
};

const reloadTimeoutMs = 10_000;
const callLogName = "calls.log";
const setprivPaths = ["/usr/bin/setpriv", "/bin/setpriv"];

/** A bare name is looked up on PATH, then in the sbin folders a user's PATH may lack. */
export function findBinary(name: string): string {
  if (name.includes("/")) return name;
  const folders = [...(process.env.PATH ?? "").split(":").filter(Boolean), "/usr/sbin", "/sbin", "/usr/local/sbin"];
  const found = folders.map((folder) => join(folder, name)).find((path) => existsSync(path));
  if (!found) throw new Error(`SLIPWAY_DATA_PLANE=nginx needs nginx, and ${name} is not on PATH; install nginx or set SLIPWAY_NGINX_BINARY`);
  return found;
}

/** A value safe inside an nginx double-quoted string: no quotes, escapes, variables or controls. */
function quoted(value: string, what: string): string {
  if (!/^[\x21-\x7e]*$/.test(value) || /["'\\$;{}]/.test(value)) throw new Error(`${what} cannot be written into nginx's configuration`);
  return `"${value}"`;
}

function upstreamName(deploymentId: string): string {
  return `slipway_${deploymentId.replace(/-/g, "")}`;
}

// A route key becomes a location path and a flag file's name: only these characters.
const safeRouteKey = /^[a-z0-9-]+$/;

function routeLocation(route: FastRoute, apiUrl: string, dir: string): string {
  if (!safeRouteKey.test(route.key)) throw new Error(`route key ${route.key} cannot be written into nginx's configuration`);
  const body = `
      if (-f ${dir}/handover/${route.key}) { return 418; }
      error_page 418 = @slipway_handover;${route.needsToken ? `
      auth_request /.slipway/authorize/${route.key};
      error_page 401 403 = @slipway_handover;` : ""}
      set $slipway_function ${quoted(route.functionId, "a function id")};
      set $slipway_deployment ${quoted(route.deploymentId, "a deployment id")};
      set $slipway_container ${quoted(route.containerId, "a container id")};
      set $slipway_timeout ${route.timeoutSeconds};
      proxy_pass http://${upstreamName(route.deploymentId)}$slipway_fn_path;
      proxy_set_header Host ${quoted(route.upstream, "a runtime address")};
      proxy_set_header Connection "";
      proxy_set_header x-forwarded-host $http_host;
      proxy_set_header x-open-runtimes-secret ${quoted(route.runtimeSecret, "a runtime secret")};
      # One second past the gateway's own timeout, so nginx's 504 (below) always comes first.
      proxy_set_header x-open-runtimes-timeout "${route.timeoutSeconds + 1}";
      proxy_set_header x-open-runtimes-logging "enabled";
      # The execution id names the log files, which the runtime makes only when written to.
      proxy_set_header x-open-runtimes-log-id $slipway_execution_id;
      proxy_set_header x-open-runtimes-log-files "lazy";
      proxy_set_header x-slipway-trigger "http";
      proxy_set_header x-slipway-execution-id $slipway_execution_id;
      proxy_set_header x-slipway-function-id ${quoted(route.functionId, "a function id")};
      proxy_set_header x-slipway-key ${quoted(route.executionKey, "an execution key")};
      proxy_set_header x-slipway-api-url ${quoted(apiUrl, "the public URL")};
      # Set only for scheduled and event runs; a client's value is dropped (an empty value sends none).
      proxy_set_header x-slipway-event "";
      proxy_set_header x-slipway-schedule "";
      proxy_hide_header x-open-runtimes-log-id;
      add_header x-slipway-execution-id $slipway_execution_id always;
      proxy_read_timeout ${route.timeoutSeconds}s;
      error_page 504 = @slipway_timeout;
      error_page 502 = @slipway_unreachable;
`;
  return `    location /fn/${route.key}/ {${body}    }\n    location = /fn/${route.key} {${body}    }\n`;
}

/** What the gateway's own server is given: the request as it came, streamed both ways. */
const toGateway = `      proxy_pass http://slipway_gateway;
      proxy_set_header Host $http_host;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
`;

/** nginx's whole configuration for these routes; `generation` lets the gateway see a reload land. */
export function renderNginxConfig(
  options: Omit<DataPlaneOptions, "log" | "onCall" | "onExit" | "binary"> & { generation: number; routes: FastRoute[]; workerUser?: string },
): string {
  const { dir } = options;
  const upstreams = new Map<string, string>();
  for (const route of options.routes) upstreams.set(route.deploymentId, route.upstream);
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
  return `# Written by the Slipway gateway; every change of a route rewrites it.
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
  client_max_body_size 0;
  underscores_in_headers on;
  proxy_http_version 1.1;
  proxy_request_buffering off;
  proxy_max_temp_file_size 0;
  proxy_connect_timeout 5s;
  # nginx's request id, shaped as a version-4 UUID, is the execution id.
  map $request_id $slipway_execution_id {
    "~^(?<a>.{8})(?<b>.{4}).(?<c>.{3}).(?<d>.{3})(?<e>.{12})$" "$a-$b-4$c-a$d-$e";
  }
  # The path the function sees: what follows /fn/<key>, as the client sent it.
  map $request_uri $slipway_fn_path {
    "~^/fn/[a-z0-9-]+(?<p>/[^?]*)(?<q>\\?.*)?$" "$p$q";
    "~^/fn/[a-z0-9-]+(?<q>\\?.*)?$" "/$q";
    default "/";
  }
  log_format slipway_call escape=json '{${callLog}}';
  upstream slipway_gateway { server 127.0.0.1:${options.gatewayPort}; keepalive 32; }
${[...upstreams].map(([deploymentId, address]) => `  upstream ${upstreamName(deploymentId)} { server ${address}; keepalive 64; }\n`).join("")}  server {
    listen ${options.host.includes(":") ? `[${options.host}]` : options.host}:${options.port};
    # Only a route's location sets $slipway_function, so only its calls are logged here.
    # Nothing is set at server level: a token check's subrequest runs the server's rewrite
    # directives again, with the call's own variables, and would blank them.
    access_log ${dir}/${callLogName} slipway_call buffer=64k flush=250ms if=$slipway_function;
    location / {
      # Declares the call log's variables even with no route, and leaves this request unlogged.
      set $slipway_function "";
      set $slipway_deployment "";
      set $slipway_container "";
      set $slipway_timeout "";
${toGateway}    }
    location = /.slipway/generation {
      set $slipway_function "";
      allow 127.0.0.1;
      allow ::1;
      deny all;
      return 200 "${options.generation}";
    }
    location @slipway_timeout {
      add_header x-slipway-execution-id $slipway_execution_id always;
      default_type application/json;
      return 504 '{"error":"the function exceeded its $slipway_timeout s timeout"}';
    }
    location @slipway_unreachable {
      add_header x-slipway-execution-id $slipway_execution_id always;
      default_type application/json;
      return 502 '{"error":"the function did not answer"}';
    }
    # Whether a call may run a function that needs a token: the gateway decides, with the
    # caller's headers and no body. Only nginx's own subrequests reach this.
    location /.slipway/authorize/ {
      internal;
      proxy_pass http://slipway_gateway;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Host $http_host;
      proxy_set_header Connection "";
    }
    location @slipway_handover {
      # The gateway records these calls itself.
      set $slipway_function "";
${toGateway}    }
${options.routes.map((route) => routeLocation(route, options.apiUrl, dir)).join("")}  }
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

/** The master's worker processes (its child processes, as /proc lists them). */
async function workersOf(masterPid: number): Promise<number[]> {
  const children = await readFile(`/proc/${masterPid}/task/${masterPid}/children`, "utf8").catch(() => "");
  return children.split(" ").filter(Boolean).map(Number);
}

/** A worker that has begun to shut down has closed its idle kept-alive connections too. */
async function retiring(pid: number): Promise<boolean> {
  const title = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  return title === "" || title.includes("shutting down");
}

function readGeneration(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    // A fresh connection each time: a kept-alive one may belong to a retiring worker.
    const request = get({ host, port, path: "/.slipway/generation", agent: false, headers: { connection: "close" }, timeout: 1000 }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (text += chunk));
      response.on("end", () => resolve(text));
    });
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", reject);
  });
}

export async function startNginxDataPlane(options: DataPlaneOptions): Promise<DataPlane> {
  const { dir, log } = options;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Flags from an earlier run are stale.
  await rm(join(dir, "handover"), { recursive: true, force: true });
  await mkdir(join(dir, "handover"));
  const confPath = join(dir, "nginx.conf");
  await stopLeftoverMaster(join(dir, "nginx.pid"), log);
  const probeHost = options.host === "0.0.0.0" ? "127.0.0.1" : options.host === "::" ? "::1" : options.host;

  // nginx's workers run as the gateway's own user, which can reach the folder wherever it
  // is (they read the handover flags and reopen the call log); run as root, nginx would
  // otherwise make them nobody.
  const workerUser = process.getuid?.() === 0 ? "root" : undefined;
  const render = (routes: FastRoute[], generation: number) => renderNginxConfig({ ...options, generation, routes, ...(workerUser ? { workerUser } : {}) });
  // Only the generation differs between two renderings of the same routes.
  const withoutGeneration = (text: string) => text.replace(/return 200 "\d+";/, "");
  const first = render([], 0);
  await writeFile(confPath, first, { mode: 0o600 });
  let generation = 0;
  let live = withoutGeneration(first);
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

  async function waitForGeneration(wanted: number): Promise<void> {
    const deadline = Date.now() + reloadTimeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${lastError}`);
      const seen = await readGeneration(probeHost, options.port).catch(() => "");
      if (seen === String(wanted)) return;
      await new Promise((r) => setTimeout(r, seen ? 2 : 20));
    }
    throw new Error(`nginx did not load its new configuration within ${reloadTimeoutMs / 1000} s: ${lastError || "no error reported"}`);
  }
  await waitForGeneration(0);
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

  // Route keys handed over, each with the number of its latest handover.
  const handedOver = new Map<string, number>();
  let handovers = 0;
  async function takeBack(upTo: number): Promise<void> {
    for (const [key, number] of handedOver) {
      if (number > upTo) continue;
      handedOver.delete(key);
      await unlink(join(dir, "handover", key)).catch(() => {});
    }
  }

  async function reload(routes: () => Promise<FastRoute[]>): Promise<void> {
    // Handovers up to here are in the routes read now; later ones wait for the next reload.
    const caughtUp = handovers;
    const text = render(await routes(), generation + 1);
    const comparable = withoutGeneration(text);
    if (comparable === live) return takeBack(caughtUp);
    generation++;
    await writeFile(`${confPath}.next`, text, { mode: 0o600 });
    await rename(`${confPath}.next`, confPath);
    const previousWorkers = await workersOf(child.pid!);
    child.kill("SIGHUP");
    await waitForGeneration(generation);
    // A client's kept-alive connection to an old worker would still meet the old routes;
    // the switch is done once every old worker has begun to retire, closing those.
    const deadline = Date.now() + reloadTimeoutMs;
    for (const pid of previousWorkers) while (!(await retiring(pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    live = comparable;
    await takeBack(caughtUp);
  }

  let chain: Promise<void> = Promise.resolve();
  let queued: Promise<void> | null = null;
  return {
    handOver(key) {
      if (!safeRouteKey.test(key)) return;
      handedOver.set(key, ++handovers);
      // Synchronous, so it is in place before the caller switches its own route table.
      writeFileSync(join(dir, "handover", key), "");
    },
    apply(routes) {
      // Changes that arrive during a reload share the next one.
      if (queued) return queued;
      const mine: Promise<void> = chain.catch(() => {}).then(() => {
        queued = null;
        return reload(routes);
      });
      queued = mine;
      chain = mine;
      return mine;
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
