// Per-execution log files for the open-runtimes v5 contract.
//
// Each execution with logging enabled gets two files in the logs directory:
//   <id>_logs.log    context.log(...) and every kind of native output
//                    (console.*, process.stdout.write, process.stderr.write)
//   <id>_errors.log  context.error(...), thrown exceptions, timeouts and other
//                    runtime-detected failures
// One message per line; a single message is cut at MAX_MESSAGE_LENGTH characters.
//
// Native output is routed with AsyncLocalStorage, so concurrent executions each
// keep their own output, and output that happens outside any execution (module
// top level, stray timers after a timeout) still reaches the container's stdout.

import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import { AsyncLocalStorage } from "node:async_hooks";

export const LOG = "log";
export const ERROR = "error";

export const MAX_MESSAGE_LENGTH = 8000;
const TRUNCATION_NOTICE = `... Log truncated due to size limit (${MAX_MESSAGE_LENGTH} characters)`;
const NATIVE_NOTICE =
  "Native logs detected. Use context.log() or context.error() for better experience.";

const LOG_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export function isValidLogId(id) {
  return LOG_ID_PATTERN.test(id);
}

// A 20-character id in the style of PHP's uniqid() plus 7 random hex digits:
// 8 hex digits of seconds, 5 of milliseconds, 7 random.
export function generateLogId() {
  const now = Date.now();
  const seconds = Math.floor(now / 1000).toString(16).padStart(8, "0");
  const millis = (now % 1000).toString(16).padStart(5, "0");
  const random = crypto.randomBytes(4).toString("hex").slice(0, 7);
  return seconds + millis + random;
}

// ---- turning log arguments into text --------------------------------------

function toPlain(value, seen, depth) {
  if (value === null) return null;
  switch (typeof value) {
    case "bigint":
      return value.toString();
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "string":
    case "boolean":
      return value;
    case "undefined":
      return undefined;
    case "symbol":
      return value.toString();
    case "function":
      return `[Function ${value.name || "anonymous"}]`;
    default:
      break;
  }
  if (depth > 64) return "[Too deep]";
  if (seen.has(value)) return "[Circular]";
  seen.add(value);
  try {
    if (value instanceof Date) {
      return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
    }
    if (value instanceof URL) return value.href;
    if (value instanceof RegExp) return String(value);
    if (value instanceof Error) {
      return { name: value.name, message: value.message, stack: value.stack };
    }
    if (value instanceof Set) {
      return Array.from(value, (item) => toPlain(item, seen, depth + 1));
    }
    if (value instanceof Map) {
      return Array.from(value, ([k, v]) => [toPlain(k, seen, depth + 1), toPlain(v, seen, depth + 1)]);
    }
    if (ArrayBuffer.isView(value)) {
      return Array.from(value instanceof DataView ? new Uint8Array(value.buffer) : value, (n) =>
        typeof n === "bigint" ? n.toString() : n,
      );
    }
    if (value instanceof ArrayBuffer) return Array.from(new Uint8Array(value));
    if (Array.isArray(value)) {
      return value.map((item) => {
        const plain = toPlain(item, seen, depth + 1);
        return plain === undefined ? null : plain;
      });
    }
    if (typeof value.toJSON === "function") {
      return toPlain(value.toJSON(), seen, depth + 1);
    }
    const out = {};
    for (const key of Object.keys(value)) {
      const plain = toPlain(value[key], seen, depth + 1);
      if (plain !== undefined) {
        Object.defineProperty(out, key, { value: plain, enumerable: true, writable: true, configurable: true });
      }
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

export function formatMessage(message) {
  if (typeof message === "string") return message;
  if (message instanceof Error) return message.stack || String(message);
  if (message === undefined) return "undefined";
  try {
    const plain = toPlain(message, new Set(), 0);
    if (typeof plain === "string") return plain;
    const json = JSON.stringify(plain);
    return json === undefined ? String(message) : json;
  } catch {
    try {
      return String(message);
    } catch {
      return "[Unprintable value]";
    }
  }
}

function truncate(text) {
  return text.length > MAX_MESSAGE_LENGTH ? text.slice(0, MAX_MESSAGE_LENGTH) + TRUNCATION_NOTICE : text;
}

// ---- one execution's logger -------------------------------------------------

export class ExecutionLogger {
  /**
   * @param {{ enabled: boolean, id: string, dir: string }} options
   */
  constructor({ enabled, id, dir, eager = true }) {
    this.enabled = enabled;
    this.id = enabled ? id : "";
    this.active = enabled;
    this.nativeSeen = false;
    /** Whether anything was written: without it, a lazy logger leaves no files behind. */
    this.written = false;
    this.dir = dir;
    this.streams = enabled ? {} : null;
    // Eager: both files exist from the start, even if empty (a caller that named the log
    // id may take their existence as proof the request arrived). Lazy: each file is made
    // on its first write, so a quiet execution touches the disk not at all.
    if (enabled && eager) {
      this.#open(LOG);
      this.#open(ERROR);
    }
  }

  #open(type) {
    let stream = this.streams[type];
    if (!stream) {
      fs.mkdirSync(this.dir, { recursive: true });
      stream = fs.createWriteStream(path.join(this.dir, `${this.id}_${type === ERROR ? "errors" : "logs"}.log`), { flags: "a" });
      // A failing log disk must never take the server down.
      stream.on("error", () => {});
      this.streams[type] = stream;
    }
    return stream;
  }

  /** context.log / context.error: messages are formatted and joined with spaces. */
  write(messages, type = LOG) {
    if (!this.active) return;
    this.#append(type, truncate(messages.map(formatMessage).join(" ")) + "\n");
  }

  /**
   * Output that did not go through context.log/error (console.*, raw stdout and
   * stderr writes). Always lands in the logs file, after a one-time notice.
   * `text` is written as given (raw writes carry their own newlines), except
   * that an oversized chunk is cut and terminated with a newline.
   */
  writeNative(text) {
    if (!this.active) return;
    if (!this.nativeSeen) {
      this.nativeSeen = true;
      this.#append(LOG, NATIVE_NOTICE + "\n");
    }
    this.#append(LOG, text.length > MAX_MESSAGE_LENGTH ? truncate(text) + "\n" : text);
  }

  #append(type, text) {
    try {
      this.written = true;
      this.#open(type).write(text);
    } catch {
      // Logging must never break an execution.
    }
  }

  /** Flushes and closes both files; later writes are dropped. */
  async end() {
    if (!this.active) return;
    this.active = false;
    await Promise.all(
      Object.values(this.streams).map(
        (stream) =>
          new Promise((resolve) => {
            stream.once("error", resolve);
            stream.end(resolve);
          }),
      ),
    );
  }
}

// ---- native output capture ---------------------------------------------------

/** @type {AsyncLocalStorage<{ logger: ExecutionLogger }>} */
export const executionScope = new AsyncLocalStorage();

function activeLogger() {
  const store = executionScope.getStore();
  return store && store.logger.active ? store.logger : null;
}

function chunkToText(chunk, encoding) {
  if (typeof chunk === "string") return chunk;
  if (chunk instanceof Uint8Array) {
    return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString(
      typeof encoding === "string" && Buffer.isEncoding(encoding) ? encoding : "utf8",
    );
  }
  return String(chunk);
}

let installed = false;

/**
 * Routes console.* and process.stdout/stderr writes made inside an execution
 * (see executionScope) into that execution's logs file. Idempotent.
 */
export function installNativeCapture() {
  if (installed) return;
  installed = true;

  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream);
    stream.write = function write(chunk, encoding, callback) {
      const logger = activeLogger();
      if (!logger) return original(chunk, encoding, callback);
      logger.writeNative(chunkToText(chunk, encoding));
      const done = typeof encoding === "function" ? encoding : callback;
      if (typeof done === "function") process.nextTick(done);
      return true;
    };
  }

  for (const method of ["log", "info", "debug", "warn", "error", "trace"]) {
    const original = console[method].bind(console);
    console[method] = function nativeConsole(...args) {
      const logger = activeLogger();
      if (!logger) return original(...args);
      if (method === "trace") {
        const trace = new Error(args.map(formatMessage).join(" "));
        trace.name = "Trace";
        logger.writeNative((trace.stack || trace.message) + "\n");
        return;
      }
      logger.writeNative(args.map(formatMessage).join(" ") + "\n");
    };
  }
}
