// Owns the process logger: pino, with the usual secret-bearing keys redacted so a token that
// slips into a log object is never written out. On a terminal (stdout a TTY, or
// SLIPWAY_LOG_FORMAT=pretty) lines go through pino-pretty's transport, in a worker thread,
// as coloured one-liners; anywhere else they are JSON, one object a line, for a log shipper.
// JSON lines are written to stdout asynchronously: a slow reader of the process's output (a
// busy log shipper, a full pipe) must never stall the event loop that answers webhooks and
// function calls. What is still buffered is flushed when the process exits.
import { pino, type Logger } from "pino";

export const redactedPaths = [
  "token",
  "*.token",
  "privateKey",
  "*.privateKey",
  "secret",
  "*.secret",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "req.headers.authorization",
  "req.headers['x-hub-signature-256']",
  // The S3 artifact store's key, as a setting and as the SDK's credentials object.
  "secretAccessKey",
  "*.secretAccessKey",
  "*.SLIPWAY_S3_SECRET_ACCESS_KEY",
  "credentials",
  "*.credentials",
];

export type LogFormat = "auto" | "json" | "pretty";

/** pretty on a terminal, JSON otherwise; `json` and `pretty` say so whatever stdout is. */
export function resolveLogFormat(format: LogFormat, stdoutIsTerminal: boolean = process.stdout.isTTY === true): "json" | "pretty" {
  return format === "auto" ? (stdoutIsTerminal ? "pretty" : "json") : format;
}

export function createLogger(level: string, name = "slipway", format: LogFormat = "auto"): Logger {
  const options = { name, level, redact: { paths: redactedPaths, censor: "[redacted]" } };
  if (resolveLogFormat(format) === "pretty") {
    const transport = pino.transport({
      target: "pino-pretty",
      options: { destination: 1, colorize: process.stdout.isTTY === true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname,name" },
    });
    return pino(options, transport);
  }
  const destination = pino.destination({ dest: 1, sync: false });
  process.once("exit", () => {
    try {
      destination.flushSync();
    } catch {
      // Nothing left to flush, or stdout is gone: there is nowhere to write anyway.
    }
  });
  return pino(options, destination);
}

export type { Logger };
