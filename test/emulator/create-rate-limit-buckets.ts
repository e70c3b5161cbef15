// Owns GitHub's primary rate limit as the emulator keeps it: one budget per requester (an
// installation, whichever of its tokens is used; the app's JWT; anonymous callers), a window
// that starts with the first request and resets `windowSeconds` later on the emulator clock,
// the x-ratelimit-* headers of every answer, and the 403 GitHub gives once a budget is spent.
import type { JsonObject } from "./emulator-types.js";

export type RateLimitRequester =
  | { kind: "installation"; installationId: number }
  | { kind: "app"; appId: number }
  | { kind: "anonymous" };

export interface RateLimitVerdict {
  headers: Record<string, string>;
  /** Set when the budget is spent: the answer GitHub gives instead. */
  exceeded: { status: 403 | 429; body: JsonObject } | null;
}

export interface RateLimitBuckets {
  /** Counts one request against the requester's budget. */
  take(requester: RateLimitRequester): RateLimitVerdict;
  /** Leaves `remaining` requests in a window that resets in `resetInSeconds`. */
  spend(requester: RateLimitRequester, options: { remaining: number; resetInSeconds: number; status: 403 | 429 }): void;
  /** Every budget starts a fresh window with its next request. */
  reset(): void;
}

interface Bucket {
  used: number;
  /** Epoch seconds, as GitHub's x-ratelimit-reset. */
  resetAt: number;
  status: 403 | 429;
}

const RATE_LIMIT_DOCS = "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting";

function keyOf(requester: RateLimitRequester): string {
  if (requester.kind === "installation") return `installation:${requester.installationId}`;
  if (requester.kind === "app") return `app:${requester.appId}`;
  return "anonymous";
}

function exceededMessage(requester: RateLimitRequester): string {
  if (requester.kind === "installation") return `API rate limit exceeded for installation ID ${requester.installationId}.`;
  // GitHub's wording for a spent app budget is not documented; this one names the app the same way.
  if (requester.kind === "app") return `API rate limit exceeded for app ID ${requester.appId}.`;
  return "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)";
}

export function createRateLimitBuckets(options: { limit: number; windowSeconds: number; now: () => Date }): RateLimitBuckets {
  const { limit, windowSeconds, now } = options;
  const buckets = new Map<string, Bucket>();

  function current(requester: RateLimitRequester): Bucket {
    const key = keyOf(requester);
    const nowMs = now().getTime();
    let bucket = buckets.get(key);
    if (!bucket || nowMs >= bucket.resetAt * 1000) {
      bucket = { used: 0, resetAt: Math.ceil(nowMs / 1000) + windowSeconds, status: 403 };
      buckets.set(key, bucket);
    }
    return bucket;
  }

  function headersOf(bucket: Bucket): Record<string, string> {
    return {
      "x-ratelimit-limit": String(limit),
      "x-ratelimit-remaining": String(limit - bucket.used),
      "x-ratelimit-used": String(bucket.used),
      "x-ratelimit-reset": String(bucket.resetAt),
      "x-ratelimit-resource": "core",
    };
  }

  return {
    take(requester) {
      const bucket = current(requester);
      if (bucket.used >= limit) {
        bucket.used = limit;
        return {
          headers: headersOf(bucket),
          exceeded: { status: bucket.status, body: { message: exceededMessage(requester), documentation_url: RATE_LIMIT_DOCS } },
        };
      }
      bucket.used++;
      return { headers: headersOf(bucket), exceeded: null };
    },
    spend(requester, spendOptions) {
      const remaining = Math.min(limit, Math.max(0, Math.floor(spendOptions.remaining)));
      const resetAt = Math.ceil(now().getTime() / 1000 + spendOptions.resetInSeconds);
      buckets.set(keyOf(requester), { used: limit - remaining, resetAt, status: spendOptions.status });
    },
    reset() {
      buckets.clear();
    },
  };
}
