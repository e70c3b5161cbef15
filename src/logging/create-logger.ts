// Owns the process logger: pino JSON, with the usual secret-bearing keys redacted so a
// token that slips into a log object is never written out. Lines are written to stdout
// asynchronously: a slow reader of the process's output (a busy log shipper, a full pipe)
// must never stall the event loop that answers webhooks and function calls. What is still
// buffered is flushed when the process exits.
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

export function createLogger(level: string, name = "slipway"): Logger {
  const destination = pino.destination({ dest: 1, sync: false });
  process.once("exit", () => {
    try {
      destination.flushSync();
    } catch {
      // Nothing left to flush, or stdout is gone: there is nowhere to write anyway.
    }
  });
  return pino({ name, level, redact: { paths: redactedPaths, censor: "[redacted]" } }, destination);
}

export type { Logger };
