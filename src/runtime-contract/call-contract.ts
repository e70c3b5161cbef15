// The open-runtimes call contract, written once: what a runtime container is sent with each
// call (the request headers it reads, which a client's own copies never reach it), which of
// its answer's headers stay with Slipway, and the timeout rules. The gateway's Node proxy
// (create-runtime-proxy.ts), the nginx data plane's configuration (nginx-data-plane.ts, whose
// call.conf is generated from clearedHeaderNames) and queued executions (run-execution.ts)
// all build their calls here.
import type { DeploymentSettings } from "../store/deployment-settings.js";

/** The header that names the call's log files; the runtime answers with the id it used. */
export const logIdHeader = "x-open-runtimes-log-id";
/** The header that carries the call's timeout to the runtime. */
export const timeoutHeader = "x-open-runtimes-timeout";
/** The header that tells a scheduled call which schedule (its cron expression) triggered it. */
export const scheduleHeader = "x-slipway-schedule";

/**
 * Every header the platform sets on a call, in the order they are written. A call carries
 * those it has a value for; the nginx data plane, which cannot drop a client's header by
 * prefix, clears the rest by name.
 */
export const callHeaderNames = [
  "x-forwarded-host",
  "x-open-runtimes-secret",
  timeoutHeader,
  "x-open-runtimes-logging",
  logIdHeader,
  "x-open-runtimes-log-files",
  "x-slipway-trigger",
  "x-slipway-execution-id",
  "x-slipway-function-id",
  "x-slipway-key",
  "x-slipway-api-url",
  "x-slipway-event",
  scheduleHeader,
  "x-appwrite-trigger",
  "x-appwrite-key",
  "x-appwrite-event",
  "x-appwrite-user-id",
  "x-appwrite-user-jwt",
  "x-appwrite-country-code",
  "x-appwrite-continent-code",
  "x-appwrite-continent-eu",
] as const;
export type CallHeaderName = (typeof callHeaderNames)[number];

/**
 * Set by a gateway that forwards a function-URL call to the gateway node that runs the
 * function (forwarded-call.ts): signed with the gateway secret, it tells that node to serve
 * the call itself. Gateways read it; a runtime never receives it.
 */
export const forwardedCallHeader = "x-slipway-forwarded";
/** Headers only gateways read: never sent to a runtime, whoever set them. */
export const gatewayOnlyHeaderNames = [forwardedCallHeader] as const;
/** Every header a client's copy of which the nginx data plane clears by name before a call reaches a runtime. */
export const clearedHeaderNames: readonly string[] = [...callHeaderNames, ...gatewayOnlyHeaderNames];

/** A client's headers under these prefixes are the platform's to set (as in Appwrite: a caller must not pose as a user); gatewayOnlyHeaderNames are among them. */
export const platformHeaderPrefixes = ["x-open-runtimes-", "x-slipway-", "x-appwrite-"] as const;

/** Connection-level headers a proxied call does not pass on (the proxy sets its own). */
export const hopByHopHeaders: ReadonlySet<string> = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length"]);
/** A queued execution's request was sent to Slipway's API: its authorization was for that API, not the function. */
export const queuedDroppedHeaders: ReadonlySet<string> = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length", "authorization"]);

/** Whether a client's request header is passed on to the runtime (by name, lower case). */
export function passesClientHeader(name: string, via: "proxy" | "queue"): boolean {
  if ((via === "proxy" ? hopByHopHeaders : queuedDroppedHeaders).has(name)) return false;
  return !platformHeaderPrefixes.some((prefix) => name.startsWith(prefix));
}

/** The client's headers that reach the runtime, names in lower case. */
export function clientHeadersForRuntime<V extends string | string[]>(headers: Record<string, V | undefined>, via: "proxy" | "queue"): Record<string, V> {
  const kept: Record<string, V> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || !passesClientHeader(lower, via)) continue;
    kept[lower] = value;
  }
  return kept;
}

/** Whether a runtime's answer header stays with Slipway rather than reaching the client. */
export function isRuntimeOnlyResponseHeader(name: string): boolean {
  return name.startsWith("x-open-runtimes-");
}

// Timeouts.

/** A call someone waits on (a function URL, a synchronous execution) runs at most this long. */
export const syncTimeoutCeilingSeconds = 30;

export type CallTrigger = "http" | "sync" | "async" | "schedule" | "event";

/** The function's timeout: its own `timeout:` (the default without one), at most the ceiling when a caller waits. */
export function executionTimeoutSeconds(settings: DeploymentSettings, defaultSeconds: number, trigger: CallTrigger): number {
  const wanted = settings.timeoutSeconds ?? defaultSeconds;
  return trigger === "sync" || trigger === "http" ? Math.min(wanted, syncTimeoutCeilingSeconds) : wanted;
}

/**
 * The timeout the runtime is told. The runtime enforces the function's timeout itself,
 * unless the caller does (nginx, which cannot tell a runtime's timeout answer from the
 * function's own): then the runtime is told one second more, so the caller's fires first.
 */
export function runtimeTimeoutSeconds(timeoutSeconds: number, enforcedBy: "runtime" | "caller"): number {
  return enforcedBy === "caller" ? timeoutSeconds + 1 : timeoutSeconds;
}

/** How long a caller that leaves the timeout to the runtime waits before it gives up on one that does not. */
export function backstopMs(timeoutSeconds: number): number {
  return (timeoutSeconds + 5) * 1000;
}

// The request.

export type RuntimeCall = {
  /** The runtime container's secret. */
  secret: string;
  /** The x-open-runtimes-timeout value (see runtimeTimeoutSeconds); absent where the caller sets it per location (nginx). */
  timeoutSeconds?: number;
  executionId: string;
  functionId: string;
  /** The execution's short-lived API key. */
  key: string;
  apiUrl: string;
  trigger: CallTrigger;
  /** The event that triggered the call, if one did. */
  event?: string;
  /** The cron expression of the schedule that triggered the call, if one did. */
  schedule?: string;
  /** The host the client called, for a call proxied from a client. */
  forwardedHost?: string;
  /** Log files are made only when written to and taken later (function URLs); a queued execution reads them at once. */
  lazyLogFiles: boolean;
};

/** The headers a runtime receives for a call, besides the client's own. */
export function runtimeCallHeaders(call: RuntimeCall): Partial<Record<CallHeaderName, string>> {
  const headers: Partial<Record<CallHeaderName, string>> = {};
  if (call.forwardedHost !== undefined) headers["x-forwarded-host"] = call.forwardedHost;
  headers["x-open-runtimes-secret"] = call.secret;
  if (call.timeoutSeconds !== undefined) headers[timeoutHeader] = String(call.timeoutSeconds);
  headers["x-open-runtimes-logging"] = "enabled";
  headers[logIdHeader] = call.executionId;
  if (call.lazyLogFiles) headers["x-open-runtimes-log-files"] = "lazy";
  headers["x-slipway-trigger"] = call.trigger;
  headers["x-slipway-execution-id"] = call.executionId;
  headers["x-slipway-function-id"] = call.functionId;
  headers["x-slipway-key"] = call.key;
  headers["x-slipway-api-url"] = call.apiUrl;
  if (call.event) headers["x-slipway-event"] = call.event;
  if (call.schedule) headers[scheduleHeader] = call.schedule;
  // What an Appwrite function reads (Appwrite 1.6): its trigger, the event, and its own API key.
  headers["x-appwrite-trigger"] = call.trigger === "schedule" || call.trigger === "event" ? call.trigger : "http";
  headers["x-appwrite-key"] = call.key;
  if (call.event) headers["x-appwrite-event"] = call.event;
  return headers;
}

/** Everything a runtime receives for a call: the client's headers the contract passes on, then the contract's own. */
export function callRequestHeaders<V extends string | string[]>(clientHeaders: Record<string, V | undefined>, via: "proxy" | "queue", call: RuntimeCall): Record<string, V | string> {
  return { ...clientHeadersForRuntime(clientHeaders, via), ...runtimeCallHeaders(call) };
}
