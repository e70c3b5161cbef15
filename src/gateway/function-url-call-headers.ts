// What the gateway's Node proxy sends a runtime for a function-URL call: the client's headers
// the open-runtimes call contract passes on, and the contract's own (call-contract.ts).
import { callRequestHeaders, runtimeTimeoutSeconds } from "../runtime-contract/call-contract.js";

export function functionUrlCallHeaders(
  clientHeaders: Record<string, string | string[] | undefined>,
  call: { secret: string; timeoutSeconds: number; executionId: string; functionId: string; key: string; apiUrl: string },
): Record<string, string | string[]> {
  return callRequestHeaders(clientHeaders, "proxy", {
    forwardedHost: typeof clientHeaders.host === "string" ? clientHeaders.host : "",
    secret: call.secret,
    // The runtime enforces the timeout; the proxy only takes a late 500 for it.
    timeoutSeconds: runtimeTimeoutSeconds(call.timeoutSeconds, "runtime"),
    executionId: call.executionId,
    functionId: call.functionId,
    key: call.key,
    apiUrl: call.apiUrl,
    trigger: "http",
    lazyLogFiles: true,
  });
}
