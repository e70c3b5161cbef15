// Slipway node-20 runtime server: the open-runtimes v5 executor contract,
// written against Node built-ins only.
//
//   GET /__opr/health        200 "OK", no secret needed
//   GET /__opr/timings       start-up timings recorded by helpers/start.sh
//   anything else            one execution of the user function
//
// Request headers understood (and hidden from the function):
//   x-open-runtimes-secret     must equal OPEN_RUNTIMES_SECRET when that is set
//   x-open-runtimes-timeout    seconds, integer > 0
//   x-open-runtimes-logging    "enabled" (default) | "disabled"
//   x-open-runtimes-log-id     id of the log files; generated when absent. A named id gets
//                              both files, even empty; a generated one only the files
//                              written to, and is returned only if anything was written
//   x-open-runtimes-log-files  "lazy" (any case): a named id too gets only the files
//                              written to, and is returned only if anything was written;
//                              anything else or absent leaves a named id's files eager
//
// Environment: OPEN_RUNTIMES_ENTRYPOINT, OPEN_RUNTIMES_SECRET,
// OPEN_RUNTIMES_HEADERS (JSON object of headers forced onto every request),
// OPEN_RUNTIMES_ENV ("development" makes the default log id "dev").

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import { pathToFileURL } from "node:url";
import {
  ExecutionLogger,
  executionScope,
  generateLogId,
  installNativeCapture,
  isValidLogId,
  ERROR,
  LOG,
} from "./logger.mjs";

const PORT = 3000;
const FUNCTION_DIR = process.env.SLIPWAY_RUNTIME_FUNCTION_DIR || "/usr/local/server/src/function";
const LOGS_DIR = process.env.SLIPWAY_RUNTIME_LOGS_DIR || "/mnt/logs";
const TIMINGS_FILE = "/mnt/telemetry/timings.txt";
const BODY_LIMIT = 20 * 1024 * 1024;
// Past this much unread body we stop draining and drop the connection.
const DRAIN_LIMIT = 4 * BODY_LIMIT;
const HEADER_PREFIX = "x-open-runtimes-";

const config = Object.freeze({
  secret: process.env.OPEN_RUNTIMES_SECRET || "",
  entrypoint: process.env.OPEN_RUNTIMES_ENTRYPOINT || "index.js",
  development: process.env.OPEN_RUNTIMES_ENV === "development",
  forcedHeaders: parseForcedHeaders(process.env.OPEN_RUNTIMES_HEADERS),
});

function parseForcedHeaders(raw) {
  if (!raw) return {};
  try {
    const parsed = JSON.parse(raw);
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return {};
    const out = {};
    for (const [name, value] of Object.entries(parsed)) out[name.toLowerCase()] = String(value);
    return out;
  } catch {
    return {};
  }
}

function setOwn(target, key, value) {
  // defineProperty so that keys such as "__proto__" stay plain data.
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function secretMatches(given) {
  if (!config.secret) return true;
  if (typeof given !== "string") return false;
  const a = crypto.createHash("sha256").update(given).digest();
  const b = crypto.createHash("sha256").update(config.secret).digest();
  return crypto.timingSafeEqual(a, b);
}

// ---- request body -------------------------------------------------------------

class BodyTooLargeError extends Error {
  constructor() {
    super(`Request body is larger than the ${BODY_LIMIT / 1024 / 1024} MB limit.`);
    this.name = "BodyTooLargeError";
  }
}

/**
 * Reads the whole request body. Past BODY_LIMIT the rest is drained and
 * discarded (so the client still gets a clean response) and the promise
 * rejects with BodyTooLargeError.
 */
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (tooLarge || size > BODY_LIMIT) {
        tooLarge = true;
        chunks.length = 0;
        if (size > DRAIN_LIMIT) req.destroy(new BodyTooLargeError());
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => (tooLarge ? reject(new BodyTooLargeError()) : resolve(Buffer.concat(chunks, size))));
    req.on("error", (err) => reject(tooLarge ? new BodyTooLargeError() : err));
  });
}

async function discardBody(req) {
  try {
    await readBody(req);
  } catch {
    // The caller answers anyway.
  }
}

// ---- the user function ----------------------------------------------------------

let loadedFunction = null; // Promise<Function>

class EntrypointError extends Error {}

function loadFunction() {
  if (!loadedFunction) {
    loadedFunction = (async () => {
      const file = path.resolve(FUNCTION_DIR, config.entrypoint);
      if (!fs.existsSync(file)) {
        throw new EntrypointError(`Failed to load entrypoint, file ${config.entrypoint} does not exist.`);
      }
      let mod;
      try {
        mod = await import(pathToFileURL(file).href);
      } catch (err) {
        const message = err instanceof Error ? err.stack || err.message : String(err);
        throw new EntrypointError(
          err instanceof SyntaxError
            ? `Syntax error in ${config.entrypoint}: ${message}`
            : `Failed to load module: ${message}`,
        );
      }
      // ESM: export default fn. CommonJS: module.exports = fn (arrives as default).
      // Transpiled CommonJS: exports.default = fn (arrives as default.default).
      let fn = mod.default;
      if (fn && typeof fn === "object" && typeof fn.default === "function") fn = fn.default;
      if (typeof fn !== "function") {
        throw new EntrypointError(
          `Function signature invalid in ${config.entrypoint}. Did you forget to export a default function (module.exports = async (context) => {...} or export default async (context) => {...})?`,
        );
      }
      return fn;
    })();
    // A failed load is retried on the next request (the file may be fixed in
    // development); Node's module cache still answers repeated successes.
    loadedFunction.catch(() => {
      loadedFunction = null;
    });
  }
  return loadedFunction;
}

// ---- context ---------------------------------------------------------------------

function parseHost(hostHeader, defaultPort) {
  let host = hostHeader || "localhost";
  let port = defaultPort;
  const ipv6 = /^\[([^\]]*)\](?::(\d+))?$/.exec(host);
  if (ipv6) {
    host = ipv6[1];
    if (ipv6[2]) port = Number(ipv6[2]);
  } else if (host.includes(":")) {
    const index = host.lastIndexOf(":");
    const maybePort = host.slice(index + 1);
    host = host.slice(0, index);
    if (/^\d+$/.test(maybePort)) port = Number(maybePort);
  }
  return { host, port };
}

function parseQuery(queryString) {
  // Like the reference runtimes: split on "&" and the first "=", no decoding.
  const query = {};
  for (const pair of queryString.split("&")) {
    const index = pair.indexOf("=");
    const key = index === -1 ? pair : pair.slice(0, index);
    if (!key) continue;
    setOwn(query, key, index === -1 ? "" : pair.slice(index + 1));
  }
  return query;
}

function makeResponse(body, statusCode, headers) {
  return { body, statusCode, headers: { ...(headers || {}) } };
}

function createContext(req, bodyBinary, logger) {
  const headers = {};
  for (const [name, value] of Object.entries(req.headers)) {
    const lower = name.toLowerCase();
    if (lower.startsWith(HEADER_PREFIX)) continue;
    setOwn(headers, lower, value);
  }
  for (const [name, value] of Object.entries(config.forcedHeaders)) setOwn(headers, name, value);

  const forwardedProto = String(req.headers["x-forwarded-proto"] || "").split(",")[0].trim().toLowerCase();
  const scheme = forwardedProto || "http";
  const defaultPort = scheme === "https" ? 443 : 80;
  const { host, port } = parseHost(req.headers.host, defaultPort);

  const rawUrl = req.url || "/";
  const hashless = rawUrl.split("#")[0];
  const questionMark = hashless.indexOf("?");
  const urlPath = questionMark === -1 ? hashless : hashless.slice(0, questionMark);
  const queryString = questionMark === -1 ? "" : hashless.slice(questionMark + 1);
  const hostPart = host.includes(":") ? `[${host}]` : host;
  const url = `${scheme}://${hostPart}${port === defaultPort ? "" : `:${port}`}${urlPath}${
    queryString ? `?${queryString}` : ""
  }`;
  const contentType = String(req.headers["content-type"] || "text/plain").toLowerCase();

  const request = {
    get bodyBinary() {
      return bodyBinary;
    },
    get bodyText() {
      return bodyBinary.toString("utf8");
    },
    get bodyRaw() {
      return this.bodyText;
    },
    get bodyJson() {
      return JSON.parse(this.bodyText);
    },
    get body() {
      if (contentType.startsWith("application/json")) {
        return bodyBinary.length > 0 ? this.bodyJson : {};
      }
      return this.bodyText;
    },
    headers,
    method: req.method,
    url,
    path: urlPath,
    query: parseQuery(queryString),
    queryString,
    scheme,
    host,
    port,
  };

  const response = {
    binary(bytes, statusCode = 200, headers = {}) {
      return makeResponse(bytes, statusCode, headers);
    },
    text(body, statusCode = 200, headers = {}) {
      return makeResponse(Buffer.from(body == null ? "" : String(body), "utf8"), statusCode, headers);
    },
    json(obj, statusCode = 200, headers = {}) {
      return this.text(JSON.stringify(obj), statusCode, { ...(headers || {}), "content-type": "application/json" });
    },
    empty() {
      return this.text("", 204, {});
    },
    redirect(url, statusCode = 301, headers = {}) {
      return this.text("", statusCode, { ...(headers || {}), location: url });
    },
    send(body, statusCode = 200, headers = {}) {
      return makeResponse(body, statusCode, headers);
    },
  };

  return {
    req: request,
    res: response,
    log: (...messages) => logger.write(messages, LOG),
    error: (...messages) => logger.write(messages, ERROR),
  };
}

// ---- responding -----------------------------------------------------------------

function bodyToBuffer(body) {
  if (body == null) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (typeof body === "string") return Buffer.from(body, "utf8");
  if (typeof body === "object") return Buffer.from(JSON.stringify(body) ?? "", "utf8");
  return Buffer.from(String(body), "utf8");
}

function withCharset(contentType) {
  const [mediaType, ...params] = contentType.split(";");
  const type = mediaType.trim().toLowerCase();
  const hasCharset = params.some((param) => param.trim().toLowerCase().startsWith("charset="));
  const rest = params.map((param) => param.trim()).filter(Boolean);
  if (!type.startsWith("multipart/") && !hasCharset) rest.push("charset=utf-8");
  return [type, ...rest].join("; ");
}

function send(res, statusCode, body, headers = {}) {
  if (res.headersSent || res.destroyed) return;
  const buffer = bodyToBuffer(body);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.statusCode = statusCode;
  const noBody = statusCode === 204 || statusCode === 304 || (statusCode >= 100 && statusCode < 200);
  if (!noBody) res.setHeader("content-length", buffer.length);
  res.end(noBody ? undefined : buffer);
}

function validStatus(code) {
  return Number.isInteger(code) && code >= 100 && code <= 999;
}

// ---- one execution ---------------------------------------------------------------

let activeExecutions = 0;

async function execute(req, res) {
  if (!secretMatches(req.headers[`${HEADER_PREFIX}secret`])) {
    await discardBody(req);
    return send(res, 500, 'Unauthorized. Provide correct "x-open-runtimes-secret" header.', {
      "content-type": "text/plain; charset=utf-8",
    });
  }

  const timeoutHeader = req.headers[`${HEADER_PREFIX}timeout`];
  let timeoutSeconds = null;
  if (timeoutHeader !== undefined && timeoutHeader !== "") {
    const value = String(timeoutHeader).trim();
    if (!/^\d+$/.test(value) || Number(value) <= 0) {
      await discardBody(req);
      return send(res, 500, 'Header "x-open-runtimes-timeout" must be an integer greater than 0.', {
        "content-type": "text/plain; charset=utf-8",
      });
    }
    timeoutSeconds = Number(value);
  }

  // As in open-runtimes: anything but "enabled" (or no header) turns logging off.
  const loggingHeader = String(req.headers[`${HEADER_PREFIX}logging`] || "enabled").toLowerCase();
  const loggingEnabled = loggingHeader === "enabled";
  let logId = req.headers[`${HEADER_PREFIX}log-id`];
  if (logId !== undefined && logId !== "" && !isValidLogId(logId)) {
    await discardBody(req);
    return send(res, 500, 'Header "x-open-runtimes-log-id" may only contain letters, digits, "-" and "_".', {
      "content-type": "text/plain; charset=utf-8",
    });
  }
  // A caller that names the log files gets them, even empty, unless it asks for them with
  // "x-open-runtimes-log-files: lazy"; otherwise they are made only when something is
  // written, and a quiet execution returns no log id at all.
  const lazyFiles = String(req.headers[`${HEADER_PREFIX}log-files`] || "").toLowerCase() === "lazy";
  const eager = Boolean(logId) && !lazyFiles;
  if (!logId) logId = config.development ? "dev" : generateLogId();

  const logger = new ExecutionLogger({ enabled: loggingEnabled, id: logId, dir: LOGS_DIR, eager });
  const finish = async (statusCode, body, headers) => {
    // With logging disabled the id is echoed empty, as in open-runtimes.
    if (!logger.enabled || eager || logger.written) headers["x-open-runtimes-log-id"] = logger.id;
    await logger.end();
    send(res, statusCode, body, headers);
  };

  let bodyBinary;
  try {
    bodyBinary = await readBody(req);
  } catch (err) {
    logger.write([err instanceof BodyTooLargeError ? err.message : `Failed to read request body: ${err}`], ERROR);
    return finish(500, "", { "content-type": "text/plain; charset=utf-8" });
  }

  const context = createContext(req, bodyBinary, logger);

  let fn;
  try {
    fn = await loadFunction();
  } catch (err) {
    context.error(err instanceof EntrypointError ? err.message : err);
    return finish(503, "", { "content-type": "text/plain; charset=utf-8" });
  }

  let output;
  let timer = null;
  try {
    const run = executionScope.run({ logger }, () => Promise.resolve().then(() => fn(context)));
    if (timeoutSeconds === null) {
      output = await run;
    } else {
      const timedOut = Symbol("timeout");
      const deadline = new Promise((resolve) => {
        timer = setTimeout(() => resolve(timedOut), timeoutSeconds * 1000);
      });
      run.catch(() => {}); // a late rejection after the deadline is not unhandled
      output = await Promise.race([run, deadline]);
      if (output === timedOut) {
        context.error("Execution timed out.");
        return finish(500, "", { "content-type": "text/plain; charset=utf-8" });
      }
    }
  } catch (err) {
    context.error(err instanceof Error ? err.stack || String(err) : err);
    return finish(500, "", { "content-type": "text/plain; charset=utf-8" });
  } finally {
    if (timer) clearTimeout(timer);
  }

  if (output === null || output === undefined) {
    context.error("Return statement missing. return context.res.empty() if no response is expected.");
    return finish(500, "", { "content-type": "text/plain; charset=utf-8" });
  }
  if (typeof output !== "object" || Buffer.isBuffer(output)) {
    context.error(
      `Invalid return value: expected the result of context.res.text(), json(), binary(), redirect(), empty() or send(), got ${typeof output}.`,
    );
    return finish(500, "", { "content-type": "text/plain; charset=utf-8" });
  }

  const statusCode = output.statusCode ?? 200;
  if (!validStatus(statusCode)) {
    context.error(`Invalid status code ${String(statusCode)}: it must be an integer between 100 and 999.`);
    return finish(500, "", { "content-type": "text/plain; charset=utf-8" });
  }

  const headers = {};
  for (const [name, value] of Object.entries(output.headers ?? {})) {
    const lower = name.toLowerCase();
    if (lower.startsWith(HEADER_PREFIX) || value === undefined || value === null) continue;
    const normalised = Array.isArray(value) ? value.map(String) : String(value);
    try {
      http.validateHeaderName(lower);
      for (const item of [normalised].flat()) http.validateHeaderValue(lower, item);
    } catch (err) {
      context.error(`Invalid response header "${name}": ${err instanceof Error ? err.message : err}`);
      return finish(500, "", { "content-type": "text/plain; charset=utf-8" });
    }
    headers[lower] = normalised;
  }
  headers["content-type"] = withCharset(String(headers["content-type"] ?? "text/plain"));

  let body;
  try {
    body = bodyToBuffer(output.body);
  } catch (err) {
    context.error(`Response body could not be serialised: ${err instanceof Error ? err.message : err}`);
    return finish(500, "", { "content-type": "text/plain; charset=utf-8" });
  }
  return finish(statusCode, body, headers);
}

// ---- server ----------------------------------------------------------------------

installNativeCapture();

const server = http.createServer(async (req, res) => {
  const pathname = (req.url || "/").split("?")[0];
  if (pathname === "/__opr/health") {
    req.resume();
    return send(res, 200, "OK", { "content-type": "text/plain; charset=utf-8" });
  }
  if (pathname === "/__opr/timings") {
    req.resume();
    let timings = "";
    try {
      timings = fs.readFileSync(TIMINGS_FILE, "utf8");
    } catch {
      // No timings recorded (not started through helpers/start.sh).
    }
    return send(res, 200, timings, { "content-type": "text/plain; charset=utf-8" });
  }

  activeExecutions++;
  try {
    await execute(req, res);
  } catch (err) {
    // Only runtime bugs get here; never leave the executor hanging.
    process.stderr.write(`[slipway-runtime] internal error: ${err instanceof Error ? err.stack : err}\n`);
    send(res, 500, "", { "content-type": "text/plain; charset=utf-8" });
  } finally {
    activeExecutions--;
    if (shuttingDown && activeExecutions === 0) process.exit(0);
  }
});

// Executions may legitimately run for many minutes.
server.requestTimeout = 0;
server.headersTimeout = 60_000;
server.keepAliveTimeout = 65_000;

// Unhandled rejections / exceptions from user code (e.g. a timer that throws
// after its execution timed out) must not kill the runtime.
// When the failure can be traced to a running execution it goes to that
// execution's error log, otherwise to the container's stderr.
function reportStray(kind, err) {
  const text = `${kind}: ${err instanceof Error ? err.stack || err.message : String(err)}`;
  const logger = executionScope.getStore()?.logger;
  if (logger && logger.active) logger.write([text], ERROR);
  else process.stderr.write(`[slipway-runtime] ${text}\n`);
}
process.on("unhandledRejection", (reason) => reportStray("Unhandled promise rejection", reason));
process.on("uncaughtException", (err) => reportStray("Uncaught exception", err));

let shuttingDown = false;
function shutdown(signal) {
  if (shuttingDown) return;
  shuttingDown = true;
  process.stdout.write(`[slipway-runtime] ${signal} received, shutting down.\n`);
  server.close();
  server.closeIdleConnections();
  if (activeExecutions === 0) process.exit(0);
  // docker stop waits 10 s by default before SIGKILL.
  setTimeout(() => process.exit(0), 8_000).unref();
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));

server.listen(PORT, "0.0.0.0", () => {
  const startedAt = Number(process.env.SLIPWAY_START_UPTIME);
  if (Number.isFinite(startedAt)) {
    try {
      const now = Number(fs.readFileSync("/proc/uptime", "utf8").split(" ")[0]);
      fs.appendFileSync(TIMINGS_FILE, `startup=${(now - startedAt).toFixed(3)}\n`);
    } catch {
      // Telemetry is best effort.
    }
  }
  console.log(`HTTP server successfully started! Listening on port ${PORT}.`);
});
