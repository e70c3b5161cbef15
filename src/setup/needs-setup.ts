// Owns the rule for set-up mode: Slipway registers its GitHub App itself only when none of
// the app's credentials are set. A half-filled .env is a mistake to report, not a reason to
// register a second app.
const credentialNames = ["APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET"] as const;

export function needsSetup(env: NodeJS.ProcessEnv): boolean {
  return credentialNames.every((name) => (env[name] ?? "").trim() === "");
}
