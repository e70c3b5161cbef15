// Owns GitHub's bad moments in the emulator: the controls on `emulator.faults` (primary and
// secondary rate limits, 5xx bursts, slow answers), the decision for one REST request, held
// answers, and the log of faults served. The emulator asks before it touches any state, so a
// refused request changes nothing.
import { createRateLimitBuckets, type RateLimitRequester, type RateLimitVerdict } from "./create-rate-limit-buckets.js";
import type { EmulatorFaults, FaultMatch, JsonObject, ServedFault } from "./emulator-types.js";

export interface FaultRequest {
  requestId: string;
  method: string;
  path: string;
  operationId: string | null;
  requester: RateLimitRequester;
}

export interface FaultAdmission {
  /** x-ratelimit-* headers for the answer. */
  headers: Record<string, string>;
  /** The answer to give instead of carrying the request out. */
  failure: { status: number; body: JsonObject; headers: Record<string, string> } | null;
  /** Call just before the answer goes out: holds a slow answer back, then logs the faults served. */
  answer(status: number): Promise<void>;
}

export interface GitHubFaults {
  readonly controls: EmulatorFaults;
  admit(request: FaultRequest): FaultAdmission;
}

interface PendingFault {
  kind: "secondary-rate-limit" | "server-error" | "slow";
  /** Infinity: until clear(). */
  left: number;
  match: FaultMatch | undefined;
  /** secondary-rate-limit and server-error */
  status?: number;
  /** secondary-rate-limit */
  retryAfterSeconds?: number;
  /** slow */
  delayMs?: number;
}

const WRITE_METHODS = new Set(["POST", "PATCH", "PUT", "DELETE"]);
const SECONDARY_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";
const SERVER_ERROR_MESSAGES: Record<number, string> = {
  500: "Server Error",
  502: "Server Error",
  503: "Service Unavailable",
  504: "We couldn't respond to your request in time. Sorry about that. Please try resubmitting your request and contact us if the problem persists.",
};

function matches(match: FaultMatch | undefined, request: FaultRequest): boolean {
  if (!match) return true;
  if (match.writesOnly && !WRITE_METHODS.has(request.method)) return false;
  if (match.method !== undefined && ![match.method].flat().some((m) => m.toUpperCase() === request.method)) return false;
  if (match.operationId !== undefined && match.operationId !== request.operationId) return false;
  if (typeof match.path === "string" && match.path !== request.path) return false;
  if (match.path instanceof RegExp) {
    match.path.lastIndex = 0;
    if (!match.path.test(request.path)) return false;
  }
  return true;
}

function countOf(count: number | undefined): number {
  if (count === undefined) return Infinity;
  if (!Number.isInteger(count) || count < 1) throw new Error(`emulator: a fault's count must be a positive integer, got ${count}`);
  return count;
}

function oneOf<T extends number>(value: T | undefined, allowed: readonly T[], fallback: T, what: string): T {
  const chosen = value ?? fallback;
  if (!allowed.includes(chosen)) throw new Error(`emulator: ${what} must be one of ${allowed.join(", ")}, got ${chosen}`);
  return chosen;
}

export function createGitHubFaults(options: {
  limit: number;
  windowSeconds: number;
  now: () => Date;
  /** Installations registered so far, for rateLimit() without an installationId. */
  installationIds: () => number[];
}): GitHubFaults {
  const buckets = createRateLimitBuckets(options);
  const pending: PendingFault[] = [];
  const held = new Set<() => void>();
  const served: ServedFault[] = [];

  function takePending(kind: PendingFault["kind"], request: FaultRequest): PendingFault | undefined {
    const index = pending.findIndex((f) => f.kind === kind && matches(f.match, request));
    const fault = pending[index];
    if (!fault) return undefined;
    fault.left--;
    if (fault.left <= 0) pending.splice(index, 1);
    return fault;
  }

  function hold(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const release = () => {
        clearTimeout(timer);
        held.delete(release);
        resolve();
      };
      const timer = setTimeout(release, ms);
      held.add(release);
    });
  }

  const controls: EmulatorFaults = {
    rateLimit(limitOptions = {}) {
      const status = oneOf(limitOptions.status, [403, 429] as const, 403, "rateLimit status");
      const spend = { remaining: limitOptions.remaining ?? 0, resetInSeconds: limitOptions.resetInSeconds ?? 60, status };
      const ids = limitOptions.installationId === undefined ? options.installationIds() : [limitOptions.installationId];
      for (const installationId of ids) buckets.spend({ kind: "installation", installationId }, spend);
    },
    secondaryRateLimit(limitOptions = {}) {
      const retryAfterSeconds = limitOptions.retryAfterSeconds ?? 60;
      if (!(retryAfterSeconds >= 0)) throw new Error(`emulator: retryAfterSeconds must be 0 or more, got ${retryAfterSeconds}`);
      pending.push({
        kind: "secondary-rate-limit",
        left: countOf(limitOptions.count),
        match: limitOptions.match,
        status: oneOf(limitOptions.status, [403, 429] as const, 403, "secondaryRateLimit status"),
        retryAfterSeconds,
      });
    },
    serverErrors(errorOptions = {}) {
      const status = oneOf(errorOptions.status, [500, 502, 503, 504] as const, 502, "serverErrors status");
      pending.push({ kind: "server-error", left: countOf(errorOptions.count), match: errorOptions.match, status });
    },
    slow(slowOptions) {
      if (!(slowOptions.ms >= 0)) throw new Error(`emulator: slow ms must be 0 or more, got ${slowOptions.ms}`);
      pending.push({ kind: "slow", left: countOf(slowOptions.count), match: slowOptions.match, delayMs: slowOptions.ms });
    },
    clear() {
      pending.length = 0;
      for (const release of [...held]) release();
      buckets.reset();
    },
    served,
  };

  type Refusal = { kind: ServedFault["kind"]; answer: NonNullable<FaultAdmission["failure"]> };

  /** At most one failure per request: the primary limit, else a secondary limit, else a 5xx. */
  function refusalFor(exceeded: RateLimitVerdict["exceeded"], request: FaultRequest): Refusal | null {
    if (exceeded) return { kind: "rate-limit", answer: { ...exceeded, headers: {} } };
    const secondary = takePending("secondary-rate-limit", request);
    if (secondary) {
      const message = `You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID ${request.requestId}.`;
      return {
        kind: "secondary-rate-limit",
        answer: {
          status: secondary.status ?? 403,
          body: { message, documentation_url: SECONDARY_DOCS },
          headers: { "retry-after": String(secondary.retryAfterSeconds ?? 60) },
        },
      };
    }
    const serverError = takePending("server-error", request);
    if (serverError) {
      const status = serverError.status ?? 502;
      return { kind: "server-error", answer: { status, body: { message: SERVER_ERROR_MESSAGES[status] ?? "Server Error" }, headers: {} } };
    }
    return null;
  }

  return {
    controls,
    admit(request) {
      const verdict = buckets.take(request.requester);
      const slow = takePending("slow", request);
      const refusal = refusalFor(verdict.exceeded, request);
      return {
        headers: verdict.headers,
        failure: refusal?.answer ?? null,
        async answer(status) {
          const delayMs = slow?.delayMs ?? 0;
          if (slow) await hold(delayMs);
          const at = options.now().toISOString().replace(/\.\d{3}Z$/, "Z");
          const entry = { requestId: request.requestId, method: request.method, path: request.path, operationId: request.operationId, status, at };
          if (slow) served.push({ kind: "slow", ...entry, delayMs });
          if (refusal) served.push({ kind: refusal.kind, ...entry, delayMs: 0 });
        },
      };
    },
  };
}
