/** Shared record types of the GitHub emulator (types only). */

export type AccountType = "User" | "Organization";

/** A repository registered with `createRepo`. */
export interface RepoRecord {
  id: number;
  node_id: string;
  name: string;
  /** `owner/name` */
  full_name: string;
  /** Owner login. */
  owner: string;
  ownerId: number;
  ownerType: AccountType;
  private: boolean;
  /** Smart-HTTP clone URL served by the emulator (`http://127.0.0.1:PORT/owner/name.git`). */
  clone_url: string;
  html_url: string;
  /** REST URL of the repository (`<apiUrl>/repos/owner/name`). */
  url: string;
  default_branch: string;
  installationId: number;
  created_at: string;
  description: string | null;
}

export interface AppInfo {
  id: number;
  slug: string;
  name: string;
  /** Login of the account owning the app registration. */
  ownerLogin: string;
  ownerType: AccountType;
  /** Where `details_url` of check runs points when the app does not set one. */
  externalUrl: string;
  permissions: Record<string, PermissionLevel>;
  events: string[];
  created_at: string;
}

export type PermissionLevel = "read" | "write" | "admin";

export type RepositoryRole = "admin" | "maintain" | "write" | "triage" | "read" | "none";

export interface BaseUrls {
  /** REST base, e.g. `http://127.0.0.1:PORT`. */
  apiUrl: string;
  /** Base of html_url links; the emulator serves both from the same origin. */
  webUrl: string;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

// ---- faults: GitHub having a bad moment (see create-github-faults.ts) ----------------------

/** Which REST requests a fault applies to; every field given must match. */
export interface FaultMatch {
  /** Method(s), e.g. `"POST"` or `["PATCH", "POST"]`. */
  method?: string | string[];
  /** Only POST, PATCH, PUT and DELETE, the requests GitHub's secondary limits weigh most. */
  writesOnly?: boolean;
  /** The path without the query string: equal to this string, or matching this pattern. */
  path?: string | RegExp;
  /** OpenAPI operationId, e.g. `issues/create-comment`. */
  operationId?: string;
}

export interface PrimaryRateLimitOptions {
  /** Requests still allowed in the window before the 403 (default 0). */
  remaining?: number;
  /** Seconds until the window resets, on the emulator clock (default 60; see advanceClock). */
  resetInSeconds?: number;
  /** Only this installation's budget (default: every installation registered so far). */
  installationId?: number;
  /** 403 (default, GitHub's usual answer) or 429. */
  status?: 403 | 429;
}

export interface SecondaryRateLimitOptions {
  /** How many matching requests are refused (default: every one until clear()). */
  count?: number;
  /** The `retry-after` header, in seconds (default 60). */
  retryAfterSeconds?: number;
  /** 403 (default) or 429. */
  status?: 403 | 429;
  match?: FaultMatch;
}

export interface ServerErrorOptions {
  /** How many matching requests fail (default: every one until clear()). */
  count?: number;
  /** Default 502. */
  status?: 500 | 502 | 503 | 504;
  match?: FaultMatch;
}

export interface SlowAnswerOptions {
  /** How long each answer is held back; the request itself is carried out at once. */
  ms: number;
  /** How many matching requests are slow (default: every one until clear()). */
  count?: number;
  match?: FaultMatch;
}

/** One fault the emulator served; a request both slow and refused appears twice. */
export interface ServedFault {
  kind: "rate-limit" | "secondary-rate-limit" | "server-error" | "slow";
  /** The answer's `x-github-request-id`, also in `requests`. */
  requestId: string;
  method: string;
  path: string;
  operationId: string | null;
  /** Status of the answer sent. */
  status: number;
  /** How long the answer was held back (slow), else 0. */
  delayMs: number;
  at: string;
}

/** The controls on `emulator.faults`. A refused request changes nothing in the emulator. */
export interface EmulatorFaults {
  /** Spends an installation's primary budget: after `remaining` more requests, 403 until the reset. */
  rateLimit(options?: PrimaryRateLimitOptions): void;
  /** The next matching requests get a secondary rate limit: 403/429 with `retry-after`. */
  secondaryRateLimit(options?: SecondaryRateLimitOptions): void;
  /** The next matching requests get a 5xx. */
  serverErrors(options?: ServerErrorOptions): void;
  /** The next matching answers are held back `ms`. */
  slow(options: SlowAnswerOptions): void;
  /** Drops every pending fault, lets held answers go, and gives every budget a fresh window. */
  clear(): void;
  /** Every fault served so far, oldest first (emptied by clearRecords()). */
  readonly served: ServedFault[];
}
