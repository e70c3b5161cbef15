// Slipway's version, as package.json gives it: shown by `slipway --version`, the start-up
// banner and `GET /v1/info`.
import { readFileSync } from "node:fs";

let cached: string | undefined;

export function slipwayVersion(): string {
  cached ??= (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
  return cached;
}
