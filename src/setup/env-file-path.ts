// Owns where set-up mode writes the app's credentials: SLIPWAY_ENV_FILE, or .env in the
// folder Slipway was started from (scripts/start.sh starts it from the repository and reads
// that file).
import { resolve } from "node:path";

export function envFilePath(env: NodeJS.ProcessEnv): string {
  return resolve(env.SLIPWAY_ENV_FILE?.trim() || ".env");
}
