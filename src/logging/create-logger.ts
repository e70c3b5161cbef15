// Owns the process logger: pino JSON, with the usual secret-bearing keys redacted so a
// token that slips into a log object is never written out.
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
];

export function createLogger(level: string, name = "slipway"): Logger {
  return pino({ name, level, redact: { paths: redactedPaths, censor: "[redacted]" } });
}

export type { Logger };
