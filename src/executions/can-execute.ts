// Decides whether a caller may execute a function, from the function's `execute:` list in
// slipway.yml and the caller's API token. Pure, so every case has its own unit test.
//   any          anyone, no token needed
//   users        any valid API token
//   team:<name>  a client token whose teams include <name>
//   key:<scope>  a client token whose scopes include <scope>
// A server token may always execute; an execution key may execute its own function. A key
// scoped to one deployment (a preview's, say) may execute that deployment and nothing else,
// whatever the list says: a fork's preview must not run production with its secrets. With
// an empty list (the default) nothing else may.
import type { Principal } from "../api/api-tokens.js";

export type ExecuteDecision = { allowed: true } | { allowed: false; status: 401 | 403; message: string };

export type Caller =
  | { kind: "anonymous" }
  | { kind: "invalid" } // a token was sent, but it is unknown, expired or revoked
  | { kind: "token"; principal: Principal };

function describeAllowed(permissions: readonly string[]): string {
  if (permissions.length === 0) return "a server API key";
  const parts = permissions.map((p) => (p === "users" ? "any API token" : p.startsWith("team:") ? `a token of team '${p.slice(5)}'` : p.startsWith("key:") ? `a token with scope '${p.slice(4)}'` : p));
  return `${parts.join(" or ")} (or a server API key)`;
}

/** `deploymentId`: the deployment the call would run (production's, for the executions API). */
export function canExecute(permissions: readonly string[], caller: Caller, functionId: string, deploymentId: string): ExecuteDecision {
  if (permissions.includes("any")) return { allowed: true };
  if (caller.kind === "anonymous") {
    return { allowed: false, status: 401, message: `executing this function needs ${describeAllowed(permissions)}: send \`Authorization: Bearer slw_…\`` };
  }
  if (caller.kind === "invalid") {
    return { allowed: false, status: 401, message: "the API token is unknown, expired or revoked" };
  }
  const { principal } = caller;
  if (principal.kind === "server") return { allowed: true };
  if (principal.kind === "execution" && principal.deploymentId) {
    if (principal.functionId === functionId && principal.deploymentId === deploymentId) return { allowed: true };
    return { allowed: false, status: 403, message: "this execution key was handed to one deployment, and works for that deployment only" };
  }
  if (principal.kind === "execution" && principal.functionId === functionId) return { allowed: true };
  if (permissions.includes("users")) return { allowed: true };
  if (principal.kind === "client") {
    for (const permission of permissions) {
      if (permission.startsWith("team:") && principal.teams.includes(permission.slice(5))) return { allowed: true };
      if (permission.startsWith("key:") && principal.scopes.includes(permission.slice(4))) return { allowed: true };
    }
  }
  const missing =
    principal.kind === "execution"
      ? "an execution key may execute only its own function"
      : `this ${principal.kind} token has ${principal.teams.length ? `teams ${principal.teams.join(", ")}` : "no team"} and ${principal.scopes.length ? `scopes ${principal.scopes.join(", ")}` : "no scope"}`;
  return { allowed: false, status: 403, message: `executing this function needs ${describeAllowed(permissions)}; ${missing}` };
}
