import type { ChildProcess } from "node:child_process";
import { createPublicKey, generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createOAuthWebFlow, type OAuthClient, type OAuthRequestRecord } from "./serve-oauth-web-flow.js";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { gunzipSync, inflateSync } from "node:zlib";
import { errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import { BareRepository, type DiffFile, type FileSpec, type GitIdentity } from "./bare-repository.js";
import { createGitHubFaults, type FaultAdmission } from "./create-github-faults.js";
import { createGitHubShapes } from "./create-github-shapes.js";
import {
  createOpenApiValidator,
  type MatchedOperation,
  type OpenApiValidator,
  type SchemaIssue,
} from "./create-openapi-validator.js";
import type {
  AccountType,
  AppInfo,
  EmulatorFaults,
  JsonObject,
  JsonValue,
  PermissionLevel,
  RepoRecord,
  RepositoryRole,
} from "./emulator-types.js";
import { manifestProblems, type ManifestInput } from "./manifest-problems.js";
import { serveGitHttpBackend } from "./serve-git-http-backend.js";
import { emulatorCommitLog } from "./emulator-commit-log.js";
import { userIdFor } from "./user-id-for.js";
import { waitFor, type WaitForOptions } from "./wait-for.js";

// ---------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------

export interface GitHubEmulatorOptions {
  appId: number;
  /** PEM (SPKI "PUBLIC KEY" or PKCS#1 "RSA PUBLIC KEY") of the app's key pair, or a KeyObject. */
  publicKey: string | KeyObject;
  appSlug?: string;
  appName?: string;
  /** Login of the account that owns the app registration (default `slipway-dev`). */
  appOwner?: string;
  /** Permissions granted to every installation (default: what Slipway needs, see DEFAULT_PERMISSIONS). */
  permissions?: Record<string, PermissionLevel>;
  events?: string[];
  /** Listen port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Lifetime of installation tokens (default one hour, like GitHub). */
  tokenTtlMs?: number;
  /** Clock used for JWT checks, token expiry and timestamps (default: real time). See also advanceClock(). */
  now?: () => Date;
  /** Validate every JSON response against the OpenAPI description too (default true); see responseValidationErrors. */
  validateResponses?: boolean;
  /** Primary rate limit per installation, per app JWT and for anonymous callers (default 5000 an hour, like GitHub). */
  rateLimit?: { limit?: number; windowSeconds?: number };
  /** The app's client id and secret for its user authorization (OAuth web flow); defaults are fixed test values. */
  oauthClient?: OAuthClient;
}

export interface RegisteredApp {
  id: number;
  slug: string;
  manifest: ManifestInput;
  webhookSecret: string;
  pem: string;
  owner: string;
}

export interface CreateRepoInput {
  owner: string;
  name: string;
  installationId: number;
  defaultBranch?: string;
  private?: boolean;
  ownerType?: AccountType;
  description?: string | null;
}

export interface CommitFilesInput {
  owner: string;
  repo: string;
  /** Defaults to the repository's default branch. */
  branch?: string;
  files: Record<string, FileSpec>;
  message: string;
  author?: Partial<GitIdentity>;
  committer?: Partial<GitIdentity>;
  /** Start point when `branch` does not exist yet (default: the default branch head). */
  from?: string;
}

export interface EmulatorCommitResult {
  sha: string;
  /** Previous branch head; 40 zeros when the branch was created by this commit. */
  before: string;
  branch: string;
  ref: string;
  tree: string;
  parents: string[];
  added: string[];
  modified: string[];
  removed: string[];
  message: string;
  author: GitIdentity;
  committer: GitIdentity;
  timestamp: string;
}

export interface CreatePullRequestInput {
  owner: string;
  repo: string;
  /** Head branch in the same repository. */
  head: string;
  /** Base branch (default: repository default branch). */
  base?: string;
  title?: string;
  body?: string | null;
  /** Author login (default: repository owner). */
  user?: string;
  draft?: boolean;
}

export interface CreateIssueInput {
  owner: string;
  repo: string;
  title: string;
  body?: string | null;
  user?: string;
}

export interface CreateCommentInput {
  owner: string;
  repo: string;
  body: string;
  /** Author login (default: repository owner). */
  user?: string;
  userType?: "User" | "Bot";
}

export interface RecordedRequest {
  /** `git`: smart-HTTP requests (also in gitRequests, with headers). */
  kind: "rest" | "git";
  requestId: string;
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  url: string;
  status: number;
  /** Parsed JSON request body (undefined when none). */
  body: unknown;
  responseBody: unknown;
  operationId: string | null;
  auth: "none" | "jwt" | "installation" | "user" | "invalid";
  installationId: number | null;
  at: string;
}

export interface ValidationErrorRecord {
  method: string;
  path: string;
  operationId: string | null;
  /** schema: body vs OpenAPI; query: query string vs OpenAPI; limit: GitHub size limits; rule: GitHub semantic rule; json: unparsable body. */
  kind: "schema" | "query" | "limit" | "rule" | "json";
  message: string;
  errors: SchemaIssue[];
  body: unknown;
  at: string;
}

export interface ResponseValidationRecord {
  method: string;
  path: string;
  operationId: string;
  status: number;
  errors: SchemaIssue[];
}

export interface UnknownRouteRecord {
  method: string;
  path: string;
  reason: "not-in-openapi" | "not-implemented";
  operationId: string | null;
}

export interface GitRequestRecord {
  method: string;
  /** Request target exactly as received (path + query). */
  url: string;
  path: string;
  service: string | null;
  headers: IncomingHttpHeaders;
  status: number;
  owner: string;
  repo: string;
  auth: "basic" | "bearer" | "none" | "invalid";
  installationId: number | null;
  at: string;
}

export interface IssuedToken {
  token: string;
  installationId: number;
  issuedAt: string;
  expiresAt: string;
  permissions: Record<string, PermissionLevel>;
  /** null = every repository of the installation. */
  repositoryIds: number[] | null;
  /** `api`: POST /app/installations/{id}/access_tokens; `helper`: createInstallationToken(). */
  via: "api" | "helper";
}

export interface CheckRunView {
  id: number;
  name: string;
  head_sha: string;
  status: string;
  conclusion: string | null;
  started_at: string | null;
  completed_at: string | null;
  details_url: string | null;
  external_id: string | null;
  output: {
    title: string | null;
    summary: string | null;
    text: string | null;
    annotations_count: number;
    annotations_url: string;
  };
  /** Every annotation sent so far (GitHub appends across updates). */
  annotations: JsonObject[];
  images: JsonObject[];
  actions: JsonObject[];
  [key: string]: unknown;
}

/** The full check-run state right after one create/update request, plus what was sent. */
export type CheckRunHistoryEntry = CheckRunView & {
  action: "created" | "updated";
  at: string;
  /** The request body as sent. */
  request: JsonObject;
};

export interface CommentView {
  id: number;
  body: string;
  user: { login: string; type: string; [key: string]: unknown };
  html_url: string;
  created_at: string;
  updated_at: string;
  [key: string]: unknown;
}

export interface ReactionView {
  id: number;
  content: string;
  subject: "issue_comment" | "commit_comment";
  commentId: number;
  user: string;
  deleted: boolean;
  json: JsonObject;
}

export interface DeploymentView {
  id: number;
  sha: string;
  ref: string;
  task: string;
  environment: string;
  payload: JsonValue;
  /** Oldest first. */
  statuses: Array<{ id: number; state: string; [key: string]: unknown }>;
  [key: string]: unknown;
}

export interface EmulatorFault {
  operationId: string;
  times: number;
  status?: number;
  delayMs?: number;
}

export interface GitHubEmulator {
  /** REST base URL (Octokit `baseUrl`). */
  readonly apiUrl: string;
  readonly port: number;
  readonly app: AppInfo;
  gitUrl(owner: string, repo: string): string;

  createRepo(input: CreateRepoInput): Promise<RepoRecord>;
  repo(owner: string, name: string): RepoRecord | undefined;
  commit(input: CommitFilesInput): Promise<EmulatorCommitResult>;
  branchHead(owner: string, repo: string, branch: string): Promise<string | null>;
  /** Moves `branch` forward to `to` (a fast-forward merge pushed with git); send the push webhook yourself. */
  fastForward(input: { owner: string; repo: string; branch: string; to: string }): Promise<{ before: string; after: string; ref: string }>;
  createPullRequest(input: CreatePullRequestInput): Promise<JsonObject & { number: number }>;
  createIssue(input: CreateIssueInput): Promise<{ number: number; id: number }>;
  /** A comment by a (human) user, e.g. to be sent in an issue_comment webhook. */
  createIssueComment(input: CreateCommentInput & { issueNumber: number }): CommentView;
  createCommitComment(input: CreateCommentInput & { sha: string; path?: string; line?: number }): Promise<CommentView>;
  /** A custom role (an organisation's, say "deployer" built on write) is given with its base role. */
  setPermission(owner: string, repo: string, user: string, role: RepositoryRole, customRoleName?: string): void;
  /** The app's OAuth client (its user authorization): what Slipway's GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET must be. */
  readonly oauthClient: OAuthClient;
  /** Every request to /login/oauth/authorize and /login/oauth/access_token, with any error (client_secret redacted). */
  readonly oauthRequests: OAuthRequestRecord[];
  /** Who the emulator's browser is signed in to github.com as, for /login/oauth/authorize; null: no one. */
  signInAs(login: string | null): void;
  /** Issues a token without the JWT dance (recorded with via: 'helper'). */
  createInstallationToken(installationId: number, options?: { repositoryIds?: number[] }): string;
  revokeToken(token: string): void;

  now(): Date;
  advanceClock(ms: number): void;

  readonly requests: RecordedRequest[];
  readonly gitRequests: GitRequestRecord[];
  readonly validationErrors: ValidationErrorRecord[];
  readonly responseValidationErrors: ResponseValidationRecord[];
  readonly unknownRoutes: UnknownRouteRecord[];
  /** Apps registered through the manifest flow (/settings/apps/new, then the conversion), the newest last. */
  readonly registeredApps: RegisteredApp[];
  /** Why manifests posted to /settings/apps/new were refused. */
  readonly manifestFormErrors: string[];
  readonly tokensIssued: IssuedToken[];
  checkRuns(owner: string, repo: string, filter?: { headSha?: string; name?: string }): CheckRunView[];
  checkRun(id: number): CheckRunView | undefined;
  checkRunHistory(id: number): CheckRunHistoryEntry[];
  comments(owner: string, repo: string, issueNumber?: number): CommentView[];
  commitComments(owner: string, repo: string, sha?: string): CommentView[];
  reactions(owner: string, repo: string, filter?: { subject?: "issue_comment" | "commit_comment"; commentId?: number; includeDeleted?: boolean }): ReactionView[];
  deployments(owner: string, repo: string): DeploymentView[];
  /** Empties requests, gitRequests, validationErrors, responseValidationErrors, unknownRoutes and faults.served. */
  clearRecords(): void;
  /** Rate limits, 5xx bursts and slow answers on REST requests; see EmulatorFaults. */
  readonly faults: EmulatorFaults;
  /**
   * GitHub having a bad moment: the next `times` calls of an operation (its OpenAPI
   * operationId, e.g. `repos/get-content`) wait `delayMs`, then answer `status` with GitHub's
   * error body, or go on normally when no status is given. Unlike `faults`, the delay comes
   * before the request is carried out.
   */
  injectFault(fault: EmulatorFault): void;
  waitFor<T>(fn: () => T | Promise<T>, options?: WaitForOptions): Promise<NonNullable<T>>;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------------------

const DEFAULT_PERMISSIONS: Record<string, PermissionLevel> = {
  checks: "write",
  contents: "write",
  deployments: "write",
  issues: "write",
  metadata: "read",
  pull_requests: "write",
  statuses: "write",
};

const DEFAULT_EVENTS = ["push", "pull_request", "issue_comment", "commit_comment", "check_run", "check_suite"];
const ZERO_SHA = BareRepository.ZERO_SHA;
const EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
const DOCS = "https://docs.github.com/rest";
const LEVEL_RANK: Record<PermissionLevel, number> = { read: 1, write: 2, admin: 3 };
const CHECK_RUN_TEXT_LIMIT = 65535;
const CHECK_RUN_ANNOTATION_LIMIT = 50;
const COMMENT_BODY_LIMIT = 65536;

interface InstallationState {
  id: number;
  account: string;
  accountType: AccountType;
  createdAt: string;
}

interface TokenState extends IssuedToken {
  revoked: boolean;
}

interface IssueState {
  number: number;
  id: number;
  kind: "issue" | "pull";
  title: string;
  body: string | null;
  user: string;
  state: "open" | "closed";
  createdAt: string;
  updatedAt: string;
  headRef?: string;
  baseRef?: string;
  headSha?: string;
  baseSha?: string;
  draft?: boolean;
}

interface RepoState {
  record: RepoRecord;
  git: BareRepository;
  pushedAt: string | null;
  issues: Map<number, IssueState>;
  nextNumber: number;
  roles: Map<string, RepositoryRole>;
  /** A custom repository role's name, by login; its base is in `roles`. */
  customRoles: Map<string, string>;
}

interface CheckRunState {
  id: number;
  repoId: number;
  headSha: string;
  suiteId: number;
  name: string;
  status: string;
  conclusion: string | null;
  startedAt: string | null;
  completedAt: string | null;
  detailsUrl: string | null;
  externalId: string | null;
  output: { title: string | null; summary: string | null; text: string | null };
  annotations: JsonObject[];
  images: JsonObject[];
  actions: JsonObject[];
  history: CheckRunHistoryEntry[];
}

interface IssueCommentState {
  id: number;
  repoId: number;
  issueNumber: number;
  body: string;
  user: string;
  userType: "User" | "Bot";
  viaApp: boolean;
  createdAt: string;
  updatedAt: string;
  deleted: boolean;
}

interface CommitCommentState {
  id: number;
  repoId: number;
  commitId: string;
  body: string;
  path: string | null;
  position: number | null;
  line: number | null;
  user: string;
  userType: "User" | "Bot";
  viaApp: boolean;
  createdAt: string;
  updatedAt: string;
}

interface ReactionState {
  id: number;
  repoId: number;
  subject: "issue_comment" | "commit_comment";
  commentId: number;
  content: string;
  user: string;
  userType: "User" | "Bot";
  createdAt: string;
  deleted: boolean;
}

interface DeploymentStatusState {
  id: number;
  state: string;
  description: string;
  environment: string;
  targetUrl: string;
  logUrl: string;
  environmentUrl: string;
  creator: string;
  viaApp: boolean;
  createdAt: string;
}

interface DeploymentState {
  id: number;
  repoId: number;
  sha: string;
  ref: string;
  task: string;
  payload: JsonValue;
  environment: string;
  originalEnvironment: string;
  description: string | null;
  transient: boolean;
  production: boolean;
  creator: string;
  viaApp: boolean;
  createdAt: string;
  updatedAt: string;
  statuses: DeploymentStatusState[];
}

type Auth =
  | { kind: "none" }
  | { kind: "invalid"; message: string }
  | { kind: "jwt"; claims: JWTPayload }
  | { kind: "installation"; token: TokenState }
  | { kind: "user"; login: string };

interface RouteContext {
  op: MatchedOperation;
  params: Record<string, string>;
  query: Record<string, string | string[]>;
  body: unknown;
  headers: IncomingHttpHeaders;
  path: string;
  auth: Auth;
  repo: RepoState | null;
}

interface RouteResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Send as-is instead of JSON (e.g. raw file contents). */
  raw?: { contentType: string; data: Buffer | string };
}

interface Route {
  /** none: no credentials needed (the manifest conversion, which trusts its one-time code); user: a user access token from the OAuth web flow (see serve-oauth-web-flow.ts). */
  auth: "jwt" | "installation" | "none" | "user";
  /** Any one of these [permission, level] pairs suffices. */
  permission?: Array<[string, PermissionLevel]>;
  handler(ctx: RouteContext): Promise<RouteResult> | RouteResult;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: JsonObject,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body.message === "string" ? body.message : `HTTP ${status}`);
  }
}

/** Compiled schemas are cached inside the validator; every emulator in the process shares one. */
let sharedValidator: Promise<OpenApiValidator> | null = null;

/** Repository ids are unique per process so several emulators can share the webhook commit log. */
const repoSequence = { value: 700_000_000 };

function iso(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function errorBody(status: number, message: string, documentationUrl = DOCS): JsonObject {
  return { message, documentation_url: documentationUrl, status: String(status) };
}

function notFound(): HttpError {
  return new HttpError(404, errorBody(404, "Not Found"));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function intParam(value: string | undefined): number {
  if (value === undefined || !/^\d+$/.test(value)) throw notFound();
  return Number(value);
}

function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

function base62(bytes: number): string {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  return [...randomBytes(bytes)].map((b) => alphabet[b % 62]).join("");
}

function readRequestBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function decodeBody(raw: Buffer, encoding: string | undefined): Buffer {
  const enc = (encoding ?? "").trim().toLowerCase();
  if (enc === "gzip" || enc === "x-gzip") return gunzipSync(raw);
  if (enc === "deflate") return inflateSync(raw);
  return raw;
}

function queryObject(params: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of params) {
    const existing = out[key];
    if (existing === undefined) out[key] = value;
    else out[key] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return out;
}

function firstQuery(query: Record<string, string | string[]>, name: string): string | undefined {
  const value = query[name];
  return Array.isArray(value) ? value[0] : value;
}

// ---------------------------------------------------------------------------------------
// The emulator
// ---------------------------------------------------------------------------------------

/**
 * Starts a local GitHub emulator (REST + git smart HTTP) on 127.0.0.1. Every REST request is
 * matched against GitHub's OpenAPI description and validated; see the returned object's
 * record arrays for what happened.
 */
export async function startGitHubEmulator(options: GitHubEmulatorOptions): Promise<GitHubEmulator> {
  sharedValidator ??= createOpenApiValidator();
  const validator: OpenApiValidator = await sharedValidator;
  // Replaced when an app is registered through the manifest flow (see registerFromManifest).
  let publicKey = typeof options.publicKey === "string" ? createPublicKey(options.publicKey) : options.publicKey;
  const baseClock = options.now ?? (() => new Date());
  let clockOffset = 0;
  const now = () => new Date(baseClock().getTime() + clockOffset);
  const nowIso = () => iso(now());
  const tokenTtlMs = options.tokenTtlMs ?? 60 * 60 * 1000;
  const validateResponses = options.validateResponses ?? true;

  const root = await mkdtemp(join(tmpdir(), "gh-emulator-"));
  const reposRoot = join(root, "repos");
  await mkdir(reposRoot, { recursive: true });

  const app: AppInfo = {
    id: options.appId,
    slug: options.appSlug ?? "slipway",
    name: options.appName ?? "Slipway",
    ownerLogin: options.appOwner ?? "slipway-dev",
    ownerType: "Organization",
    externalUrl: "https://slipway.invalid",
    permissions: { ...(options.permissions ?? DEFAULT_PERMISSIONS) },
    events: [...(options.events ?? DEFAULT_EVENTS)],
    created_at: nowIso(),
  };

  const installations = new Map<number, InstallationState>();
  const manifestCodes = new Map<string, { manifest: ManifestInput; owner: string; expiresAt: number }>();
  const registeredApps: RegisteredApp[] = [];
  const manifestFormErrors: string[] = [];
  const repos = new Map<string, RepoState>();
  const reposById = new Map<number, RepoState>();
  const tokens = new Map<string, TokenState>();
  const oauthClient: OAuthClient = options.oauthClient ?? { clientId: "Iv1.0emulator0client", clientSecret: "emulator-client-secret-0000000000000000" };
  const oauth = createOAuthWebFlow(oauthClient, now);
  const checkRunStates = new Map<number, CheckRunState>();
  const checkSuites = new Map<string, number>();
  const issueComments = new Map<number, IssueCommentState>();
  const commitCommentStates = new Map<number, CommitCommentState>();
  const reactionStates = new Map<number, ReactionState>();
  const deploymentStates = new Map<number, DeploymentState>();
  const children = new Set<ChildProcess>();

  const requests: RecordedRequest[] = [];
  const faults: EmulatorFault[] = [];
  const gitRequests: GitRequestRecord[] = [];
  const validationErrors: ValidationErrorRecord[] = [];
  const responseValidationErrors: ResponseValidationRecord[] = [];
  const unknownRoutes: UnknownRouteRecord[] = [];
  const tokensIssued: IssuedToken[] = [];
  const githubFaults = createGitHubFaults({
    limit: options.rateLimit?.limit ?? 5000,
    windowSeconds: options.rateLimit?.windowSeconds ?? 60 * 60,
    now,
    installationIds: () => [...installations.keys()],
  });

  // Realistic magnitudes: GitHub ids for these objects are well beyond 2^31 today.
  const seq = {
    issue: 2_100_000_000,
    pull: 1_900_000_000,
    checkRun: 21_000_000_000,
    checkSuite: 26_000_000_000,
    issueComment: 2_400_000_000,
    commitComment: 150_000_000,
    reaction: 250_000_000,
    deployment: 2_000_000_000,
    deploymentStatus: 4_000_000_000,
  };
  const nextId = (kind: keyof typeof seq | "repo") => (kind === "repo" ? ++repoSequence.value : ++seq[kind]);

  let port = 0;
  let apiUrl = "";
  let shapes = createGitHubShapes({ apiUrl: "http://127.0.0.1", webUrl: "http://127.0.0.1" });

  // ---- lookups -------------------------------------------------------------------------

  const repoKey = (owner: string, name: string) => `${owner}/${name}`.toLowerCase();

  function repoState(owner: string, name: string): RepoState | undefined {
    return repos.get(repoKey(owner, name.replace(/\.git$/, "")));
  }

  function mustRepo(owner: string, name: string): RepoState {
    const state = repoState(owner, name);
    if (!state) throw new Error(`emulator: unknown repository ${owner}/${name}`);
    return state;
  }

  function repoApi(repo: RepoState): string {
    return shapes.repoApiUrl(repo.record);
  }

  function repoHtml(repo: RepoState): string {
    return shapes.repoHtmlUrl(repo.record);
  }

  function tokenCanAccess(token: TokenState, repo: RepoState): boolean {
    return (
      token.installationId === repo.record.installationId &&
      (token.repositoryIds === null || token.repositoryIds.includes(repo.record.id))
    );
  }

  function hasPermission(perms: Record<string, PermissionLevel>, name: string, level: PermissionLevel): boolean {
    const granted = perms[name];
    return granted !== undefined && LEVEL_RANK[granted] >= LEVEL_RANK[level];
  }

  function roleOf(repo: RepoState, login: string): RepositoryRole {
    const explicit = repo.roles.get(login.toLowerCase());
    if (explicit) return explicit;
    if (repo.record.ownerType === "User" && login.toLowerCase() === repo.record.owner.toLowerCase()) return "admin";
    return repo.record.private ? "none" : "read";
  }

  function authorAssociation(repo: RepoState, login: string, userType: "User" | "Bot"): string {
    if (userType === "Bot") return "NONE";
    if (repo.record.ownerType === "User" && login.toLowerCase() === repo.record.owner.toLowerCase()) return "OWNER";
    const role = repo.roles.get(login.toLowerCase());
    if (role && role !== "none" && role !== "read") return "COLLABORATOR";
    return "NONE";
  }

  function userForEmail(email: string): JsonObject | null {
    const m = /^(?:\d+\+)?([A-Za-z0-9-]+)@users\.noreply\.github\.com$/i.exec(email);
    return m?.[1] ? shapes.user(m[1]) : null;
  }

  function issueTokenState(installationId: number, permissions: Record<string, PermissionLevel>, repositoryIds: number[] | null, via: IssuedToken["via"]): TokenState {
    const issuedAt = now();
    const state: TokenState = {
      token: `ghs_${base62(36)}`,
      installationId,
      issuedAt: iso(issuedAt),
      expiresAt: iso(new Date(issuedAt.getTime() + tokenTtlMs)),
      permissions,
      repositoryIds,
      via,
      revoked: false,
    };
    tokens.set(state.token, state);
    const { revoked: _revoked, ...issued } = state;
    tokensIssued.push(issued);
    return state;
  }

  // ---- authentication ------------------------------------------------------------------

  async function verifyAppJwt(jwt: string): Promise<Auth> {
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(jwt, publicKey, {
        algorithms: ["RS256"],
        currentDate: now(),
        clockTolerance: 60,
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        return {
          kind: "invalid",
          message: "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        };
      }
      return { kind: "invalid", message: "A JSON web token could not be decoded" };
    }
    const nowSeconds = Math.floor(now().getTime() / 1000);
    if (claims.iss === undefined || String(claims.iss) !== String(app.id)) {
      return { kind: "invalid", message: "'Issuer' claim ('iss') must be an Integer" };
    }
    if (typeof claims.iat !== "number" || claims.iat > nowSeconds + 60) {
      return { kind: "invalid", message: "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued" };
    }
    if (typeof claims.exp !== "number" || claims.exp - claims.iat > 600 || claims.exp > nowSeconds + 600 + 60) {
      return { kind: "invalid", message: "'Expiration time' claim ('exp') is too far in the future" };
    }
    return { kind: "jwt", claims };
  }

  function credentialsFrom(header: string | undefined): { scheme: "basic" | "bearer" | "token"; secret: string } | null {
    if (!header) return null;
    const m = /^(\w+)\s+(.+)$/.exec(header.trim());
    if (!m?.[1] || !m[2]) return null;
    const scheme = m[1].toLowerCase();
    if (scheme === "basic") {
      const decoded = Buffer.from(m[2], "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      return { scheme: "basic", secret: colon >= 0 ? decoded.slice(colon + 1) : decoded };
    }
    if (scheme === "bearer" || scheme === "token") return { scheme, secret: m[2].trim() };
    return null;
  }

  async function authenticate(header: string | undefined): Promise<Auth> {
    const credentials = credentialsFrom(header);
    if (!credentials) return header ? { kind: "invalid", message: "Bad credentials" } : { kind: "none" };
    const secret = credentials.secret;
    if (/^eyJ[\w-]*\.[\w-]+\.[\w-]*$/.test(secret)) return verifyAppJwt(secret);
    const userLogin = oauth.userForToken(secret);
    if (userLogin) return { kind: "user", login: userLogin };
    const token = tokens.get(secret);
    if (!token || token.revoked || new Date(token.expiresAt).getTime() <= now().getTime()) {
      return { kind: "invalid", message: "Bad credentials" };
    }
    return { kind: "installation", token };
  }

  // ---- rendering -----------------------------------------------------------------------

  function renderCheckRun(run: CheckRunState): JsonObject {
    const repo = reposById.get(run.repoId);
    if (!repo) throw new Error("check run without repository");
    const url = `${repoApi(repo)}/check-runs/${run.id}`;
    const pulls = [...repo.issues.values()]
      .filter((i) => i.kind === "pull" && i.state === "open" && i.headSha === run.headSha)
      .map((pr) => ({
        id: pr.id,
        number: pr.number,
        url: `${repoApi(repo)}/pulls/${pr.number}`,
        head: { ref: pr.headRef ?? "", sha: pr.headSha ?? "", repo: { id: repo.record.id, url: repoApi(repo), name: repo.record.name } },
        base: { ref: pr.baseRef ?? "", sha: pr.baseSha ?? "", repo: { id: repo.record.id, url: repoApi(repo), name: repo.record.name } },
      }));
    return {
      id: run.id,
      name: run.name,
      node_id: shapes.nodeId("CheckRun", run.id),
      head_sha: run.headSha,
      external_id: run.externalId,
      url,
      html_url: `${repoHtml(repo)}/runs/${run.id}`,
      details_url: run.detailsUrl,
      status: run.status,
      conclusion: run.conclusion,
      started_at: run.startedAt,
      completed_at: run.completedAt,
      output: {
        title: run.output.title,
        summary: run.output.summary,
        text: run.output.text,
        annotations_count: run.annotations.length,
        annotations_url: `${url}/annotations`,
      },
      check_suite: { id: run.suiteId },
      app: shapes.integration(app),
      pull_requests: pulls,
    };
  }

  function checkRunView(run: CheckRunState): CheckRunView {
    const json = renderCheckRun(run) as unknown as CheckRunView;
    return structuredClone({ ...json, annotations: run.annotations, images: run.images, actions: run.actions });
  }

  function renderIssueComment(c: IssueCommentState): JsonObject {
    const repo = reposById.get(c.repoId);
    if (!repo) throw new Error("comment without repository");
    const issue = repo.issues.get(c.issueNumber);
    const url = `${repoApi(repo)}/issues/comments/${c.id}`;
    const reactions = [...reactionStates.values()]
      .filter((r) => !r.deleted && r.subject === "issue_comment" && r.commentId === c.id)
      .map((r) => r.content);
    return {
      url,
      html_url: `${repoHtml(repo)}/${issue?.kind === "pull" ? "pull" : "issues"}/${c.issueNumber}#issuecomment-${c.id}`,
      issue_url: `${repoApi(repo)}/issues/${c.issueNumber}`,
      id: c.id,
      node_id: shapes.nodeId("IssueComment", c.id),
      user: c.userType === "Bot" ? shapes.botUser(app) : shapes.user(c.user),
      created_at: c.createdAt,
      updated_at: c.updatedAt,
      author_association: authorAssociation(repo, c.user, c.userType),
      body: c.body,
      reactions: shapes.reactionRollup(`${url}/reactions`, reactions),
      performed_via_github_app: c.viaApp ? shapes.integration(app) : null,
    };
  }

  function renderCommitComment(c: CommitCommentState): JsonObject {
    const repo = reposById.get(c.repoId);
    if (!repo) throw new Error("comment without repository");
    const url = `${repoApi(repo)}/comments/${c.id}`;
    const reactions = [...reactionStates.values()]
      .filter((r) => !r.deleted && r.subject === "commit_comment" && r.commentId === c.id)
      .map((r) => r.content);
    return {
      url,
      html_url: `${repoHtml(repo)}/commit/${c.commitId}#commitcomment-${c.id}`,
      id: c.id,
      node_id: shapes.nodeId("CommitComment", c.id),
      user: c.userType === "Bot" ? shapes.botUser(app) : shapes.user(c.user),
      position: c.position,
      line: c.line,
      path: c.path,
      commit_id: c.commitId,
      created_at: c.createdAt,
      updated_at: c.updatedAt,
      author_association: authorAssociation(repo, c.user, c.userType),
      body: c.body,
      reactions: shapes.reactionRollup(`${url}/reactions`, reactions),
    };
  }

  function renderReaction(r: ReactionState): JsonObject {
    return {
      id: r.id,
      node_id: shapes.nodeId("Reaction", r.id),
      user: r.userType === "Bot" ? shapes.botUser(app) : shapes.user(r.user),
      content: r.content,
      created_at: r.createdAt,
    };
  }

  function renderDeployment(d: DeploymentState): JsonObject {
    const repo = reposById.get(d.repoId);
    if (!repo) throw new Error("deployment without repository");
    const url = `${repoApi(repo)}/deployments/${d.id}`;
    return {
      url,
      id: d.id,
      node_id: shapes.nodeId("Deployment", d.id),
      task: d.task,
      original_environment: d.originalEnvironment,
      environment: d.environment,
      description: d.description,
      created_at: d.createdAt,
      updated_at: d.updatedAt,
      statuses_url: `${url}/statuses`,
      repository_url: repoApi(repo),
      creator: d.viaApp ? shapes.botUser(app) : shapes.user(d.creator),
      sha: d.sha,
      ref: d.ref,
      payload: d.payload,
      transient_environment: d.transient,
      production_environment: d.production,
      performed_via_github_app: d.viaApp ? shapes.integration(app) : null,
    };
  }

  function renderDeploymentStatus(d: DeploymentState, s: DeploymentStatusState): JsonObject {
    const repo = reposById.get(d.repoId);
    if (!repo) throw new Error("deployment without repository");
    const deploymentUrl = `${repoApi(repo)}/deployments/${d.id}`;
    return {
      url: `${deploymentUrl}/statuses/${s.id}`,
      id: s.id,
      node_id: shapes.nodeId("DeploymentStatus", s.id),
      state: s.state,
      creator: s.viaApp ? shapes.botUser(app) : shapes.user(s.creator),
      description: s.description,
      environment: s.environment,
      target_url: s.targetUrl,
      log_url: s.logUrl,
      environment_url: s.environmentUrl,
      created_at: s.createdAt,
      updated_at: s.createdAt,
      deployment_url: deploymentUrl,
      repository_url: repoApi(repo),
      performed_via_github_app: s.viaApp ? shapes.integration(app) : null,
    };
  }

  function renderDiffEntry(repo: RepoState, headSha: string, file: DiffFile): JsonObject {
    const ref = headSha;
    const out: JsonObject = {
      sha: file.sha,
      filename: file.filename,
      status: file.status,
      additions: file.additions,
      deletions: file.deletions,
      changes: file.changes,
      blob_url: `${repoHtml(repo)}/blob/${ref}/${encodePath(file.filename)}`,
      raw_url: `${repoHtml(repo)}/raw/${ref}/${encodePath(file.filename)}`,
      contents_url: `${repoApi(repo)}/contents/${encodePath(file.filename)}?ref=${ref}`,
    };
    if (file.patch !== undefined) out.patch = file.patch;
    if (file.previous_filename !== undefined) out.previous_filename = file.previous_filename;
    return out;
  }

  async function renderCommit(repo: RepoState, sha: string, withFiles: boolean): Promise<JsonObject> {
    const info = await repo.git.commitInfo(sha);
    const api = repoApi(repo);
    const html = repoHtml(repo);
    const commentCount = [...commitCommentStates.values()].filter((c) => c.repoId === repo.record.id && c.commitId === sha).length;
    const out: JsonObject = {
      sha: info.sha,
      node_id: Buffer.from(`06:Commit${repo.record.id}:${info.sha}`).toString("base64"),
      commit: {
        author: info.author,
        committer: info.committer,
        message: info.message,
        tree: { sha: info.tree, url: `${api}/git/trees/${info.tree}` },
        url: `${api}/git/commits/${info.sha}`,
        comment_count: commentCount,
        verification: { verified: false, reason: "unsigned", signature: null, payload: null, verified_at: null },
      },
      url: `${api}/commits/${info.sha}`,
      html_url: `${html}/commit/${info.sha}`,
      comments_url: `${api}/commits/${info.sha}/comments`,
      author: userForEmail(info.author.email),
      committer: userForEmail(info.committer.email),
      parents: info.parents.map((p) => ({ sha: p, url: `${api}/commits/${p}`, html_url: `${html}/commit/${p}` })),
    };
    if (withFiles) {
      const files = await repo.git.diff(info.parents[0] ?? EMPTY_TREE, info.sha);
      const additions = files.reduce((n, f) => n + f.additions, 0);
      const deletions = files.reduce((n, f) => n + f.deletions, 0);
      out.stats = { total: additions + deletions, additions, deletions };
      out.files = files.map((f) => renderDiffEntry(repo, info.sha, f));
    }
    return out;
  }

  async function renderPull(repo: RepoState, pr: IssueState): Promise<JsonObject & { number: number }> {
    const api = repoApi(repo);
    const html = repoHtml(repo);
    const url = `${api}/pulls/${pr.number}`;
    const headSha = pr.headSha ?? ZERO_SHA;
    const baseSha = pr.baseSha ?? ZERO_SHA;
    let commits = 0;
    let additions = 0;
    let deletions = 0;
    let changedFiles = 0;
    const mergeBase = await repo.git.mergeBase(baseSha, headSha).catch(() => null);
    if (mergeBase) {
      commits = (await repo.git.commitsBetween(mergeBase, headSha)).length;
      const files = await repo.git.diff(mergeBase, headSha);
      changedFiles = files.length;
      additions = files.reduce((n, f) => n + f.additions, 0);
      deletions = files.reduce((n, f) => n + f.deletions, 0);
    }
    const owner = shapes.user(repo.record.owner, repo.record.ownerType, repo.record.ownerId);
    const repository = shapes.repository(repo.record, { pushed_at: repo.pushedAt });
    const comments = [...issueComments.values()].filter((c) => !c.deleted && c.repoId === repo.record.id && c.issueNumber === pr.number).length;
    return {
      url,
      id: pr.id,
      node_id: shapes.nodeId("PullRequest", pr.id),
      html_url: `${html}/pull/${pr.number}`,
      diff_url: `${html}/pull/${pr.number}.diff`,
      patch_url: `${html}/pull/${pr.number}.patch`,
      issue_url: `${api}/issues/${pr.number}`,
      number: pr.number,
      state: pr.state,
      locked: false,
      title: pr.title,
      user: shapes.user(pr.user),
      body: pr.body,
      created_at: pr.createdAt,
      updated_at: pr.updatedAt,
      closed_at: null,
      merged_at: null,
      merge_commit_sha: null,
      assignee: null,
      assignees: [],
      requested_reviewers: [],
      requested_teams: [],
      labels: [],
      milestone: null,
      draft: pr.draft ?? false,
      commits_url: `${url}/commits`,
      review_comments_url: `${url}/comments`,
      review_comment_url: `${api}/pulls/comments{/number}`,
      comments_url: `${api}/issues/${pr.number}/comments`,
      statuses_url: `${api}/statuses/${headSha}`,
      head: { label: `${repo.record.owner}:${pr.headRef}`, ref: pr.headRef ?? "", sha: headSha, user: owner, repo: repository },
      base: { label: `${repo.record.owner}:${pr.baseRef}`, ref: pr.baseRef ?? "", sha: baseSha, user: owner, repo: repository },
      _links: {
        self: { href: url },
        html: { href: `${html}/pull/${pr.number}` },
        issue: { href: `${api}/issues/${pr.number}` },
        comments: { href: `${api}/issues/${pr.number}/comments` },
        review_comments: { href: `${url}/comments` },
        review_comment: { href: `${api}/pulls/comments{/number}` },
        commits: { href: `${url}/commits` },
        statuses: { href: `${api}/statuses/${headSha}` },
      },
      author_association: authorAssociation(repo, pr.user, "User"),
      auto_merge: null,
      active_lock_reason: null,
      merged: false,
      mergeable: true,
      rebaseable: true,
      mergeable_state: "clean",
      merged_by: null,
      comments,
      review_comments: 0,
      maintainer_can_modify: false,
      commits,
      additions,
      deletions,
      changed_files: changedFiles,
    };
  }

  function installationOfAccount(account: string | undefined) {
    const inst = [...installations.values()].find((i) => i.account.toLowerCase() === (account ?? "").toLowerCase());
    if (!inst) throw notFound();
    return { status: 200, body: installationJson(inst) };
  }

  function installationJson(inst: InstallationState): JsonObject {
    return shapes.installation(app, {
      id: inst.id,
      account: inst.account,
      accountType: inst.accountType,
      repositorySelection: "selected",
      created_at: inst.createdAt,
    });
  }

  // ---- request helpers -------------------------------------------------------------------

  function recordValidation(ctx: RouteContext, kind: ValidationErrorRecord["kind"], message: string, errors: SchemaIssue[]): void {
    validationErrors.push({
      method: ctx.op.method,
      path: ctx.path,
      operationId: ctx.op.operationId,
      kind,
      message,
      errors,
      body: ctx.body,
      at: nowIso(),
    });
  }

  /** A GitHub semantic rule was broken: record it and answer 422 like GitHub. */
  function ruleViolation(ctx: RouteContext, message: string, field: string, kind: "rule" | "limit" = "rule"): HttpError {
    const issue: SchemaIssue = { instancePath: field ? `/${field}` : "", keyword: kind, message, params: {}, schemaPath: "" };
    recordValidation(ctx, kind, message, [issue]);
    return new HttpError(422, {
      message: kind === "limit" ? "Invalid request." : message,
      errors: [{ resource: ctx.op.resource, field, code: "invalid", message }],
      documentation_url: ctx.op.documentationUrl,
      status: "422",
    });
  }

  function paginate<T>(ctx: RouteContext, items: T[], defaultPerPage = 30): { items: T[]; headers: Record<string, string> } {
    const perPage = Math.min(100, Math.max(1, Number(firstQuery(ctx.query, "per_page") ?? defaultPerPage) || defaultPerPage));
    const page = Math.max(1, Number(firstQuery(ctx.query, "page") ?? 1) || 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const slice = items.slice((page - 1) * perPage, page * perPage);
    const link = (p: number, rel: string) => {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(ctx.query)) {
        if (k === "page") continue;
        for (const value of Array.isArray(v) ? v : [v]) params.append(k, value);
      }
      params.set("page", String(p));
      return `<${apiUrl}${ctx.path}?${params.toString()}>; rel="${rel}"`;
    };
    const links: string[] = [];
    if (page > 1) links.push(link(page - 1, "prev"));
    if (page < last) links.push(link(page + 1, "next"), link(last, "last"));
    if (page > 1) links.push(link(1, "first"));
    return { items: slice, headers: links.length ? { link: links.join(", ") } : {} };
  }

  function actor(): { login: string; type: "Bot"; viaApp: true } {
    return { login: shapes.botLogin(app), type: "Bot", viaApp: true };
  }

  function requireRepo(ctx: RouteContext): RepoState {
    if (!ctx.repo) throw notFound();
    return ctx.repo;
  }

  async function resolveRefOr422(repo: RepoState, ref: string): Promise<string> {
    const sha = await repo.git.resolveCommit(ref);
    if (!sha) throw new HttpError(422, errorBody(422, `No commit found for SHA: ${ref}`, "https://docs.github.com/rest/commits/commits#get-a-commit"));
    return sha;
  }

  function issueOr404(repo: RepoState, numberParam: string | undefined): IssueState {
    const issue = repo.issues.get(intParam(numberParam));
    if (!issue) throw notFound();
    return issue;
  }

  function issueCommentOr404(repo: RepoState, idParam: string | undefined): IssueCommentState {
    const comment = issueComments.get(intParam(idParam));
    if (!comment || comment.deleted || comment.repoId !== repo.record.id) throw notFound();
    return comment;
  }

  function commitCommentOr404(repo: RepoState, idParam: string | undefined): CommitCommentState {
    const comment = commitCommentStates.get(intParam(idParam));
    if (!comment || comment.repoId !== repo.record.id) throw notFound();
    return comment;
  }

  function createReaction(ctx: RouteContext, subject: ReactionState["subject"], commentId: number): RouteResult {
    const repo = requireRepo(ctx);
    const body = ctx.body as { content: string };
    const who = actor();
    const existing = [...reactionStates.values()].find(
      (r) => !r.deleted && r.subject === subject && r.commentId === commentId && r.content === body.content && r.user === who.login,
    );
    if (existing) return { status: 200, body: renderReaction(existing) };
    const reaction: ReactionState = {
      id: nextId("reaction"),
      repoId: repo.record.id,
      subject,
      commentId,
      content: body.content,
      user: who.login,
      userType: who.type,
      createdAt: nowIso(),
      deleted: false,
    };
    reactionStates.set(reaction.id, reaction);
    return { status: 201, body: renderReaction(reaction) };
  }

  function deleteReaction(ctx: RouteContext, subject: ReactionState["subject"], commentId: number): RouteResult {
    const reaction = reactionStates.get(intParam(ctx.params.reaction_id));
    if (!reaction || reaction.deleted || reaction.subject !== subject || reaction.commentId !== commentId) throw notFound();
    reaction.deleted = true;
    return { status: 204 };
  }

  function listReactions(ctx: RouteContext, subject: ReactionState["subject"], commentId: number): RouteResult {
    const content = firstQuery(ctx.query, "content");
    const list = [...reactionStates.values()]
      .filter((r) => !r.deleted && r.subject === subject && r.commentId === commentId && (!content || r.content === content))
      .map(renderReaction);
    const page = paginate(ctx, list);
    return { status: 200, body: page.items, headers: page.headers };
  }

  function checkRunLimitIssues(body: Record<string, unknown>): SchemaIssue[] {
    const issues: SchemaIssue[] = [];
    const output = body.output;
    if (!isObject(output)) return issues;
    for (const field of ["summary", "text"] as const) {
      const value = output[field];
      if (typeof value === "string" && [...value].length > CHECK_RUN_TEXT_LIMIT) {
        issues.push({
          instancePath: `/output/${field}`,
          keyword: "maxLength",
          message: `must NOT have more than ${CHECK_RUN_TEXT_LIMIT} characters (got ${[...value].length})`,
          params: { limit: CHECK_RUN_TEXT_LIMIT },
          schemaPath: "github-limit",
        });
      }
    }
    if (Array.isArray(output.annotations) && output.annotations.length > CHECK_RUN_ANNOTATION_LIMIT) {
      issues.push({
        instancePath: "/output/annotations",
        keyword: "maxItems",
        message: `must NOT have more than ${CHECK_RUN_ANNOTATION_LIMIT} items per request (got ${output.annotations.length})`,
        params: { limit: CHECK_RUN_ANNOTATION_LIMIT },
        schemaPath: "github-limit",
      });
    }
    return issues;
  }

  function checkSuiteFor(repo: RepoState, sha: string): number {
    const key = `${repo.record.id}:${sha}`;
    let id = checkSuites.get(key);
    if (id === undefined) {
      id = nextId("checkSuite");
      checkSuites.set(key, id);
    }
    return id;
  }

  function applyCheckRunOutput(run: CheckRunState, output: unknown): void {
    if (!isObject(output)) return;
    if ("title" in output) run.output.title = str(output.title) ?? null;
    if ("summary" in output) run.output.summary = str(output.summary) ?? null;
    if ("text" in output) run.output.text = str(output.text) ?? null;
    if (Array.isArray(output.annotations)) run.annotations.push(...(structuredClone(output.annotations) as JsonObject[]));
    if (Array.isArray(output.images)) run.images.push(...(structuredClone(output.images) as JsonObject[]));
  }

  function checkRunFor(ctx: RouteContext): CheckRunState {
    const repo = requireRepo(ctx);
    const run = checkRunStates.get(intParam(ctx.params.check_run_id));
    if (!run || run.repoId !== repo.record.id) throw notFound();
    return run;
  }

  // ---- routes ----------------------------------------------------------------------------

  const routes: Record<string, Route> = {
    "apps/create-from-manifest": {
      auth: "none",
      handler: (ctx) => {
        const pending = manifestCodes.get(ctx.params.code ?? "");
        if (!pending || pending.expiresAt < now().getTime()) throw notFound();
        manifestCodes.delete(ctx.params.code ?? "");
        const { privateKey: pem, publicKey: registeredKey } = generateKeyPairSync("rsa", {
          modulusLength: 2048,
          privateKeyEncoding: { type: "pkcs1", format: "pem" },
          publicKeyEncoding: { type: "spki", format: "pem" },
        });
        // The registered app becomes the emulator's app: its JWTs, permissions and events.
        publicKey = createPublicKey(registeredKey);
        app.id = 200_000 + Math.floor(Math.random() * 100_000);
        app.name = pending.manifest.name ?? "app";
        app.slug = app.name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
        app.externalUrl = pending.manifest.url ?? app.externalUrl;
        app.permissions = { ...(pending.manifest.default_permissions as Record<string, PermissionLevel>) };
        app.events = [...(pending.manifest.default_events ?? [])];
        const webhookSecret = randomBytes(20).toString("hex");
        const clientSecret = randomBytes(20).toString("hex");
        registeredApps.push({ id: app.id, slug: app.slug, manifest: pending.manifest, webhookSecret, pem, owner: pending.owner });
        return {
          status: 201,
          body: { ...shapes.integration(app, installations.size), client_id: `Iv1.${app.id.toString(16).padStart(16, "0")}`, client_secret: clientSecret, webhook_secret: webhookSecret, pem },
        };
      },
    },
    "apps/get-authenticated": {
      auth: "jwt",
      handler: () => ({ status: 200, body: shapes.integration(app, installations.size) }),
    },
    "apps/list-installations": {
      auth: "jwt",
      handler: (ctx) => {
        const page = paginate(ctx, [...installations.values()].map(installationJson));
        return { status: 200, body: page.items, headers: page.headers };
      },
    },
    "apps/get-installation": {
      auth: "jwt",
      handler: (ctx) => {
        const inst = installations.get(intParam(ctx.params.installation_id));
        if (!inst) throw notFound();
        return { status: 200, body: installationJson(inst) };
      },
    },
    "apps/get-repo-installation": {
      auth: "jwt",
      handler: (ctx) => {
        const repo = repoState(ctx.params.owner ?? "", ctx.params.repo ?? "");
        const inst = repo && installations.get(repo.record.installationId);
        if (!inst) throw notFound();
        return { status: 200, body: installationJson(inst) };
      },
    },
    "apps/get-org-installation": { auth: "jwt", handler: (ctx) => installationOfAccount(ctx.params.org) },
    "apps/get-user-installation": { auth: "jwt", handler: (ctx) => installationOfAccount(ctx.params.username) },
    "apps/create-installation-access-token": {
      auth: "jwt",
      handler: (ctx) => {
        const inst = installations.get(intParam(ctx.params.installation_id));
        if (!inst) throw notFound();
        const body = isObject(ctx.body) ? ctx.body : {};
        const installationRepos = [...repos.values()].filter((r) => r.record.installationId === inst.id);
        let repositoryIds: number[] | null = null;
        const names = Array.isArray(body.repositories) ? (body.repositories as string[]) : [];
        const ids = Array.isArray(body.repository_ids) ? (body.repository_ids as number[]) : [];
        if (names.length > 0 || ids.length > 0) {
          repositoryIds = [];
          for (const name of names) {
            const match = installationRepos.find((r) => r.record.name.toLowerCase() === name.toLowerCase());
            if (!match) throw ruleViolation(ctx, "There is at least one repository that does not exist or is not accessible to the parent installation.", "repositories");
            repositoryIds.push(match.record.id);
          }
          for (const id of ids) {
            if (!installationRepos.some((r) => r.record.id === id)) {
              throw ruleViolation(ctx, "There is at least one repository that does not exist or is not accessible to the parent installation.", "repository_ids");
            }
            repositoryIds.push(id);
          }
        }
        let permissions = { ...app.permissions };
        if (isObject(body.permissions)) {
          permissions = {};
          for (const [name, level] of Object.entries(body.permissions)) {
            if (!hasPermission(app.permissions, name, level as PermissionLevel)) {
              throw ruleViolation(ctx, "The permissions requested are not granted to this installation.", "permissions");
            }
            permissions[name] = level as PermissionLevel;
          }
        }
        const token = issueTokenState(inst.id, permissions, repositoryIds, "api");
        const response: JsonObject = {
          token: token.token,
          expires_at: token.expiresAt,
          permissions,
          repository_selection: repositoryIds ? "selected" : "all",
        };
        if (repositoryIds) {
          response.repositories = repositoryIds
            .map((id) => reposById.get(id))
            .filter((r): r is RepoState => !!r)
            .map((r) => shapes.repository(r.record, { pushed_at: r.pushedAt }));
        }
        return { status: 201, body: response };
      },
    },
    "apps/list-repos-accessible-to-installation": {
      auth: "installation",
      handler: (ctx) => {
        if (ctx.auth.kind !== "installation") throw notFound();
        const token = ctx.auth.token;
        const list = [...repos.values()].filter((r) => tokenCanAccess(token, r)).map((r) => shapes.repository(r.record, { pushed_at: r.pushedAt }));
        const page = paginate(ctx, list);
        return {
          status: 200,
          body: { total_count: list.length, repository_selection: token.repositoryIds ? "selected" : "all", repositories: page.items },
          headers: page.headers,
        };
      },
    },
    "apps/revoke-installation-access-token": {
      auth: "installation",
      handler: (ctx) => {
        if (ctx.auth.kind === "installation") ctx.auth.token.revoked = true;
        return { status: 204 };
      },
    },

    "repos/get": {
      auth: "installation",
      permission: [["metadata", "read"]],
      handler: (ctx) => {
        const repo = requireRepo(ctx);
        const perms = ctx.auth.kind === "installation" ? ctx.auth.token.permissions : {};
        const push = hasPermission(perms, "contents", "write");
        return {
          status: 200,
          body: shapes.fullRepository(repo.record, {
            pushed_at: repo.pushedAt,
            updated_at: repo.pushedAt ?? repo.record.created_at,
            permissions: { admin: false, maintain: false, push, triage: push, pull: true },
          }),
        };
      },
    },

    "repos/get-content": {
      auth: "installation",
      permission: [["contents", "read"]],
      handler: async (ctx) => {
        const repo = requireRepo(ctx);
        const ref = firstQuery(ctx.query, "ref") ?? repo.record.default_branch;
        const sha = await repo.git.resolveCommit(ref);
        if (!sha) throw new HttpError(404, errorBody(404, `No commit found for the ref ${ref}`, ctx.op.documentationUrl));
        const path = (ctx.params.path ?? "").replace(/^\/+|\/+$/g, "");
        const entry = await repo.git.entry(sha, path);
        if (!entry) throw notFound();
        const api = repoApi(repo);
        const html = repoHtml(repo);
        const describe = (e: { path: string; name: string; sha: string; size: number; type: string; mode: string }) => {
          const kind = e.type === "tree" ? "dir" : e.type === "commit" ? "submodule" : e.mode === "120000" ? "symlink" : "file";
          const self = `${api}/contents/${encodePath(e.path)}?ref=${encodeURIComponent(ref)}`;
          const gitUrl = kind === "dir" ? `${api}/git/trees/${e.sha}` : kind === "submodule" ? null : `${api}/git/blobs/${e.sha}`;
          const htmlUrl = kind === "submodule" ? null : `${html}/${kind === "dir" ? "tree" : "blob"}/${encodeURIComponent(ref)}/${encodePath(e.path)}`;
          return {
            name: e.name,
            path: e.path,
            sha: e.sha,
            size: kind === "file" || kind === "symlink" ? e.size : 0,
            url: self,
            html_url: htmlUrl,
            git_url: gitUrl,
            download_url: kind === "file" ? `${html}/raw/${encodeURIComponent(ref)}/${encodePath(e.path)}` : null,
            type: kind,
            _links: { self, git: gitUrl, html: htmlUrl },
          } satisfies JsonObject;
        };
        if (entry.type === "tree") {
          const entries = await repo.git.listTree(sha, path);
          return { status: 200, body: entries.map(describe) };
        }
        const base = describe(entry);
        if (entry.type === "commit") {
          return { status: 200, body: { ...base, submodule_git_url: "" } };
        }
        const data = await repo.git.readBlob(entry.sha);
        if (base.type === "symlink") {
          return { status: 200, body: { ...base, target: data.toString("utf8") } };
        }
        const accept = String(ctx.headers.accept ?? "");
        if (/application\/vnd\.github(?:\.v3)?\.raw/.test(accept)) {
          return { status: 200, raw: { contentType: "application/vnd.github.raw; charset=utf-8", data } };
        }
        const tooLarge = data.length > 1024 * 1024;
        const content = tooLarge ? "" : `${(data.toString("base64").match(/.{1,60}/g) ?? []).join("\n")}\n`;
        return { status: 200, body: { ...base, content, encoding: tooLarge ? "none" : "base64" } };
      },
    },

    "repos/get-commit": {
      auth: "installation",
      permission: [["contents", "read"]],
      handler: async (ctx) => {
        const repo = requireRepo(ctx);
        const sha = await resolveRefOr422(repo, ctx.params.ref ?? "");
        return { status: 200, body: await renderCommit(repo, sha, true) };
      },
    },

    "repos/compare-commits-with-basehead": {
      auth: "installation",
      permission: [["contents", "read"]],
      handler: async (ctx) => {
        const repo = requireRepo(ctx);
        const basehead = ctx.params.basehead ?? "";
        const split = basehead.indexOf("...");
        if (split <= 0) throw notFound();
        const strip = (ref: string) => ref.replace(new RegExp(`^${repo.record.owner}:`, "i"), "");
        const baseRef = strip(basehead.slice(0, split));
        const headRef = strip(basehead.slice(split + 3));
        const baseSha = await repo.git.resolveCommit(baseRef);
        const headSha = await repo.git.resolveCommit(headRef);
        if (!baseSha || !headSha) throw notFound();
        const mergeBase = await repo.git.mergeBase(baseSha, headSha);
        if (!mergeBase) throw new HttpError(404, errorBody(404, `No common ancestor between ${baseRef} and ${headRef}.`));
        const ahead = await repo.git.commitsBetween(baseSha, headSha);
        const behind = await repo.git.commitsBetween(headSha, baseSha);
        const files = await repo.git.diff(mergeBase, headSha);
        const status = baseSha === headSha ? "identical" : behind.length === 0 ? "ahead" : ahead.length === 0 ? "behind" : "diverged";
        const html = `${repoHtml(repo)}/compare/${basehead}`;
        return {
          status: 200,
          body: {
            url: `${repoApi(repo)}/compare/${basehead}`,
            html_url: html,
            permalink_url: `${repoHtml(repo)}/compare/${repo.record.owner}:${baseSha.slice(0, 7)}...${repo.record.owner}:${headSha.slice(0, 7)}`,
            diff_url: `${html}.diff`,
            patch_url: `${html}.patch`,
            base_commit: await renderCommit(repo, baseSha, false),
            merge_base_commit: await renderCommit(repo, mergeBase, false),
            status,
            ahead_by: ahead.length,
            behind_by: behind.length,
            total_commits: ahead.length,
            commits: await Promise.all(ahead.map((sha) => renderCommit(repo, sha, false))),
            files: files.map((f) => renderDiffEntry(repo, headSha, f)),
          },
        };
      },
    },

    "checks/create": {
      auth: "installation",
      permission: [["checks", "write"]],
      handler: async (ctx) => {
        const repo = requireRepo(ctx);
        const body = ctx.body as Record<string, unknown>;
        const headSha = await repo.git.resolveCommit(String(body.head_sha));
        if (!headSha) throw ruleViolation(ctx, `No commit found for SHA: ${String(body.head_sha)}`, "head_sha");
        const conclusion = str(body.conclusion) ?? null;
        const status = conclusion ? "completed" : (str(body.status) ?? "queued");
        if (status === "completed" && !conclusion) throw ruleViolation(ctx, "Invalid request.\n\n`conclusion` is required when `status` is 'completed'.", "conclusion");
        if (body.completed_at !== undefined && !conclusion) throw ruleViolation(ctx, "Invalid request.\n\n`conclusion` is required when `completed_at` is provided.", "conclusion");
        if (conclusion === "stale") throw ruleViolation(ctx, "Invalid request.\n\nOnly GitHub can set a conclusion of `stale`.", "conclusion");
        const at = nowIso();
        const run: CheckRunState = {
          id: nextId("checkRun"),
          repoId: repo.record.id,
          headSha,
          suiteId: checkSuiteFor(repo, headSha),
          name: String(body.name),
          status,
          conclusion,
          startedAt: str(body.started_at) ?? at,
          completedAt: status === "completed" ? (str(body.completed_at) ?? at) : null,
          detailsUrl: str(body.details_url) ?? app.externalUrl,
          externalId: str(body.external_id) ?? "",
          output: { title: null, summary: null, text: null },
          annotations: [],
          images: [],
          actions: Array.isArray(body.actions) ? (structuredClone(body.actions) as JsonObject[]) : [],
          history: [],
        };
        applyCheckRunOutput(run, body.output);
        checkRunStates.set(run.id, run);
        run.history.push({ ...checkRunView(run), action: "created", at, request: structuredClone(body) as JsonObject });
        return { status: 201, body: renderCheckRun(run) };
      },
    },
    "checks/update": {
      auth: "installation",
      permission: [["checks", "write"]],
      handler: (ctx) => {
        const run = checkRunFor(ctx);
        const body = ctx.body as Record<string, unknown>;
        const conclusion = str(body.conclusion);
        if (conclusion === "stale") throw ruleViolation(ctx, "Invalid request.\n\nOnly GitHub can set a conclusion of `stale`.", "conclusion");
        if (body.completed_at !== undefined && !conclusion && !run.conclusion) {
          throw ruleViolation(ctx, "Invalid request.\n\n`conclusion` is required when `completed_at` is provided.", "conclusion");
        }
        const at = nowIso();
        if (typeof body.name === "string") run.name = body.name;
        if (typeof body.details_url === "string") run.detailsUrl = body.details_url;
        if (typeof body.external_id === "string") run.externalId = body.external_id;
        if (typeof body.started_at === "string") run.startedAt = body.started_at;
        if (typeof body.status === "string") run.status = body.status;
        if (conclusion) {
          run.conclusion = conclusion;
          run.status = "completed";
        }
        if (run.status === "completed") run.completedAt = str(body.completed_at) ?? run.completedAt ?? at;
        else if (typeof body.status === "string") {
          run.conclusion = null;
          run.completedAt = null;
        }
        applyCheckRunOutput(run, body.output);
        if (Array.isArray(body.actions)) run.actions = structuredClone(body.actions) as JsonObject[];
        run.history.push({ ...checkRunView(run), action: "updated", at, request: structuredClone(body) as JsonObject });
        return { status: 200, body: renderCheckRun(run) };
      },
    },
    "checks/get": {
      auth: "installation",
      permission: [["checks", "read"]],
      handler: (ctx) => ({ status: 200, body: renderCheckRun(checkRunFor(ctx)) }),
    },
    "checks/list-for-ref": {
      auth: "installation",
      permission: [["checks", "read"]],
      handler: async (ctx) => {
        const repo = requireRepo(ctx);
        const sha = await resolveRefOr422(repo, ctx.params.ref ?? "");
        const checkName = firstQuery(ctx.query, "check_name");
        const status = firstQuery(ctx.query, "status");
        const appId = firstQuery(ctx.query, "app_id");
        let runs = [...checkRunStates.values()]
          .filter((r) => r.repoId === repo.record.id && r.headSha === sha)
          .filter((r) => !checkName || r.name === checkName)
          .filter((r) => !status || r.status === status)
          .filter(() => !appId || Number(appId) === app.id)
          .sort((a, b) => b.id - a.id);
        if ((firstQuery(ctx.query, "filter") ?? "latest") === "latest") {
          const seen = new Set<string>();
          runs = runs.filter((r) => (seen.has(r.name) ? false : (seen.add(r.name), true)));
        }
        const page = paginate(ctx, runs.map(renderCheckRun));
        return { status: 200, body: { total_count: runs.length, check_runs: page.items }, headers: page.headers };
      },
    },

    "issues/create-comment": {
      auth: "installation",
      permission: [["issues", "write"], ["pull_requests", "write"]],
      handler: (ctx) => {
        const repo = requireRepo(ctx);
        const issue = issueOr404(repo, ctx.params.issue_number);
        const body = String((ctx.body as { body: string }).body);
        if (body.length > COMMENT_BODY_LIMIT) throw ruleViolation(ctx, `Body is too long (maximum is ${COMMENT_BODY_LIMIT} characters)`, "body", "limit");
        const who = actor();
        const at = nowIso();
        const comment: IssueCommentState = {
          id: nextId("issueComment"),
          repoId: repo.record.id,
          issueNumber: issue.number,
          body,
          user: who.login,
          userType: who.type,
          viaApp: who.viaApp,
          createdAt: at,
          updatedAt: at,
          deleted: false,
        };
        issueComments.set(comment.id, comment);
        return { status: 201, body: renderIssueComment(comment) };
      },
    },
    "issues/list-comments": {
      auth: "installation",
      permission: [["issues", "read"], ["pull_requests", "read"]],
      handler: (ctx) => {
        const repo = requireRepo(ctx);
        const issue = issueOr404(repo, ctx.params.issue_number);
        const since = firstQuery(ctx.query, "since");
        const list = [...issueComments.values()]
          .filter((c) => !c.deleted && c.repoId === repo.record.id && c.issueNumber === issue.number)
          .filter((c) => !since || c.updatedAt >= iso(new Date(since)))
          .map(renderIssueComment);
        const page = paginate(ctx, list);
        return { status: 200, body: page.items, headers: page.headers };
      },
    },
    "issues/get-comment": {
      auth: "installation",
      permission: [["issues", "read"], ["pull_requests", "read"]],
      handler: (ctx) => ({ status: 200, body: renderIssueComment(issueCommentOr404(requireRepo(ctx), ctx.params.comment_id)) }),
    },
    "issues/update-comment": {
      auth: "installation",
      permission: [["issues", "write"], ["pull_requests", "write"]],
      handler: (ctx) => {
        const comment = issueCommentOr404(requireRepo(ctx), ctx.params.comment_id);
        const body = String((ctx.body as { body: string }).body);
        if (body.length > COMMENT_BODY_LIMIT) throw ruleViolation(ctx, `Body is too long (maximum is ${COMMENT_BODY_LIMIT} characters)`, "body", "limit");
        comment.body = body;
        comment.updatedAt = nowIso();
        return { status: 200, body: renderIssueComment(comment) };
      },
    },
    "issues/delete-comment": {
      auth: "installation",
      permission: [["issues", "write"], ["pull_requests", "write"]],
      handler: (ctx) => {
        issueCommentOr404(requireRepo(ctx), ctx.params.comment_id).deleted = true;
        return { status: 204 };
      },
    },
    "reactions/create-for-issue-comment": {
      auth: "installation",
      permission: [["issues", "write"], ["pull_requests", "write"]],
      handler: (ctx) => createReaction(ctx, "issue_comment", issueCommentOr404(requireRepo(ctx), ctx.params.comment_id).id),
    },
    "reactions/list-for-issue-comment": {
      auth: "installation",
      permission: [["issues", "read"], ["pull_requests", "read"]],
      handler: (ctx) => listReactions(ctx, "issue_comment", issueCommentOr404(requireRepo(ctx), ctx.params.comment_id).id),
    },
    "reactions/delete-for-issue-comment": {
      auth: "installation",
      permission: [["issues", "write"], ["pull_requests", "write"]],
      handler: (ctx) => deleteReaction(ctx, "issue_comment", issueCommentOr404(requireRepo(ctx), ctx.params.comment_id).id),
    },

    "repos/create-commit-comment": {
      auth: "installation",
      permission: [["contents", "write"]],
      handler: async (ctx) => {
        const repo = requireRepo(ctx);
        const body = ctx.body as { body: string; path?: string; position?: number; line?: number };
        const sha = await repo.git.resolveCommit(ctx.params.commit_sha ?? "");
        if (!sha) throw ruleViolation(ctx, `No commit found for SHA: ${ctx.params.commit_sha ?? ""}`, "commit_sha");
        if (body.body.length > COMMENT_BODY_LIMIT) throw ruleViolation(ctx, `Body is too long (maximum is ${COMMENT_BODY_LIMIT} characters)`, "body", "limit");
        const who = actor();
        const at = nowIso();
        const comment: CommitCommentState = {
          id: nextId("commitComment"),
          repoId: repo.record.id,
          commitId: sha,
          body: body.body,
          path: body.path ?? null,
          position: body.position ?? null,
          line: body.line ?? null,
          user: who.login,
          userType: who.type,
          viaApp: true,
          createdAt: at,
          updatedAt: at,
        };
        commitCommentStates.set(comment.id, comment);
        return { status: 201, body: renderCommitComment(comment) };
      },
    },
    "repos/list-comments-for-commit": {
      auth: "installation",
      permission: [["contents", "read"]],
      handler: async (ctx) => {
        const repo = requireRepo(ctx);
        const sha = await repo.git.resolveCommit(ctx.params.commit_sha ?? "");
        const list = [...commitCommentStates.values()].filter((c) => c.repoId === repo.record.id && c.commitId === sha).map(renderCommitComment);
        const page = paginate(ctx, list);
        return { status: 200, body: page.items, headers: page.headers };
      },
    },
    "repos/get-commit-comment": {
      auth: "installation",
      permission: [["contents", "read"]],
      handler: (ctx) => ({ status: 200, body: renderCommitComment(commitCommentOr404(requireRepo(ctx), ctx.params.comment_id)) }),
    },
    "reactions/create-for-commit-comment": {
      auth: "installation",
      permission: [["contents", "write"]],
      handler: (ctx) => createReaction(ctx, "commit_comment", commitCommentOr404(requireRepo(ctx), ctx.params.comment_id).id),
    },
    "reactions/list-for-commit-comment": {
      auth: "installation",
      permission: [["contents", "read"]],
      handler: (ctx) => listReactions(ctx, "commit_comment", commitCommentOr404(requireRepo(ctx), ctx.params.comment_id).id),
    },
    "reactions/delete-for-commit-comment": {
      auth: "installation",
      permission: [["contents", "write"]],
      handler: (ctx) => deleteReaction(ctx, "commit_comment", commitCommentOr404(requireRepo(ctx), ctx.params.comment_id).id),
    },

    "users/get-authenticated": {
      auth: "user",
      handler: (ctx) => {
        const login = ctx.auth.kind === "user" ? ctx.auth.login : "";
        return {
          status: 200,
          body: {
            ...shapes.user(login),
            name: login, company: null, blog: "", location: null, email: null, hireable: null, bio: null,
            public_repos: 0, public_gists: 0, followers: 0, following: 0, created_at: "2020-01-01T00:00:00Z", updated_at: "2020-01-01T00:00:00Z",
          },
        };
      },
    },

    "repos/get-collaborator-permission-level": {
      auth: "installation",
      permission: [["metadata", "read"]],
      handler: (ctx) => {
        const repo = requireRepo(ctx);
        const login = ctx.params.username ?? "";
        const role = roleOf(repo, login);
        const legacy: Record<RepositoryRole, string> = { admin: "admin", maintain: "write", write: "write", triage: "read", read: "read", none: "none" };
        const rank = ["none", "read", "triage", "write", "maintain", "admin"].indexOf(role);
        const permissions = { pull: rank >= 1, triage: rank >= 2, push: rank >= 3, maintain: rank >= 4, admin: rank >= 5 };
        // GitHub: `permission` is the base (legacy) level; `role_name` may be a custom role's name.
        const roleName = repo.customRoles.get(login.toLowerCase()) ?? role;
        return {
          status: 200,
          body: {
            permission: legacy[role],
            role_name: roleName,
            user: { ...shapes.user(login), permissions, role_name: roleName },
          },
        };
      },
    },

    "repos/create-deployment": {
      auth: "installation",
      permission: [["deployments", "write"]],
      handler: async (ctx) => {
        const repo = requireRepo(ctx);
        const body = ctx.body as Record<string, unknown>;
        const ref = String(body.ref);
        const sha = await repo.git.resolveCommit(ref);
        if (!sha) throw ruleViolation(ctx, `No ref found for: ${ref}`, "ref");
        if (!Array.isArray(body.required_contexts)) {
          // GitHub verifies every unique status context / check run on the commit unless required_contexts is given.
          const latest = new Map<string, CheckRunState>();
          for (const run of [...checkRunStates.values()].sort((a, b) => a.id - b.id)) {
            if (run.repoId === repo.record.id && run.headSha === sha) latest.set(run.name, run);
          }
          const failing = [...latest.values()].filter(
            (r) => r.status !== "completed" || !["success", "neutral", "skipped"].includes(r.conclusion ?? ""),
          );
          if (failing.length > 0) {
            const contexts = failing.map((r) => ({ context: r.name, state: r.status === "completed" ? (r.conclusion ?? "failure") : "pending" }));
            recordValidation(ctx, "rule", `Conflict: Commit status checks failed for ${ref}.`, [
              { instancePath: "/required_contexts", keyword: "rule", message: `unsuccessful contexts: ${JSON.stringify(contexts)}`, params: {}, schemaPath: "" },
            ]);
            throw new HttpError(409, {
              message: `Conflict: Commit status checks failed for ${ref}.`,
              errors: [{ contexts, resource: "Deployment", field: "required_contexts", code: "invalid" }],
              documentation_url: ctx.op.documentationUrl,
              status: "409",
            });
          }
        }
        const environment = str(body.environment) ?? "production";
        const who = actor();
        const at = nowIso();
        let payload: JsonValue = {};
        if (typeof body.payload === "string") {
          try {
            payload = JSON.parse(body.payload) as JsonValue;
          } catch {
            payload = body.payload;
          }
        } else if (isObject(body.payload)) payload = structuredClone(body.payload) as JsonObject;
        const deployment: DeploymentState = {
          id: nextId("deployment"),
          repoId: repo.record.id,
          sha,
          ref,
          task: str(body.task) ?? "deploy",
          payload,
          environment,
          originalEnvironment: environment,
          description: str(body.description) ?? null,
          transient: body.transient_environment === true,
          production: typeof body.production_environment === "boolean" ? body.production_environment : environment === "production",
          creator: who.login,
          viaApp: true,
          createdAt: at,
          updatedAt: at,
          statuses: [],
        };
        deploymentStates.set(deployment.id, deployment);
        return { status: 201, body: renderDeployment(deployment) };
      },
    },
    "repos/list-deployments": {
      auth: "installation",
      permission: [["deployments", "read"]],
      handler: (ctx) => {
        const repo = requireRepo(ctx);
        const f = (name: string) => firstQuery(ctx.query, name);
        const list = [...deploymentStates.values()]
          .filter((d) => d.repoId === repo.record.id)
          .filter((d) => !f("sha") || d.sha === f("sha"))
          .filter((d) => !f("ref") || d.ref === f("ref"))
          .filter((d) => !f("task") || d.task === f("task"))
          .filter((d) => !f("environment") || d.environment === f("environment"))
          .sort((a, b) => b.id - a.id)
          .map(renderDeployment);
        const page = paginate(ctx, list);
        return { status: 200, body: page.items, headers: page.headers };
      },
    },
    "repos/get-deployment": {
      auth: "installation",
      permission: [["deployments", "read"]],
      handler: (ctx) => {
        const repo = requireRepo(ctx);
        const d = deploymentStates.get(intParam(ctx.params.deployment_id));
        if (!d || d.repoId !== repo.record.id) throw notFound();
        return { status: 200, body: renderDeployment(d) };
      },
    },
    "repos/create-deployment-status": {
      auth: "installation",
      permission: [["deployments", "write"]],
      handler: (ctx) => {
        const repo = requireRepo(ctx);
        const d = deploymentStates.get(intParam(ctx.params.deployment_id));
        if (!d || d.repoId !== repo.record.id) throw notFound();
        const body = ctx.body as Record<string, unknown>;
        const who = actor();
        const at = nowIso();
        if (typeof body.environment === "string") d.environment = body.environment;
        const targetUrl = str(body.target_url) ?? "";
        const status: DeploymentStatusState = {
          id: nextId("deploymentStatus"),
          state: String(body.state),
          description: str(body.description) ?? "",
          environment: d.environment,
          targetUrl,
          logUrl: str(body.log_url) ?? targetUrl,
          environmentUrl: str(body.environment_url) ?? "",
          creator: who.login,
          viaApp: true,
          createdAt: at,
        };
        d.statuses.push(status);
        d.updatedAt = at;
        if (status.state === "success" && body.auto_inactive !== false) {
          // GitHub marks earlier successful non-transient, non-production deployments of the environment inactive.
          for (const other of deploymentStates.values()) {
            if (other.id === d.id || other.repoId !== d.repoId || other.environment !== d.environment) continue;
            if (other.transient || other.production) continue;
            const last = other.statuses.at(-1);
            if (last?.state !== "success") continue;
            other.statuses.push({ ...last, id: nextId("deploymentStatus"), state: "inactive", description: "", createdAt: at });
            other.updatedAt = at;
          }
        }
        return { status: 201, body: renderDeploymentStatus(d, status) };
      },
    },
    "repos/list-deployment-statuses": {
      auth: "installation",
      permission: [["deployments", "read"]],
      handler: (ctx) => {
        const repo = requireRepo(ctx);
        const d = deploymentStates.get(intParam(ctx.params.deployment_id));
        if (!d || d.repoId !== repo.record.id) throw notFound();
        const page = paginate(ctx, [...d.statuses].reverse().map((s) => renderDeploymentStatus(d, s)));
        return { status: 200, body: page.items, headers: page.headers };
      },
    },

    "pulls/get": {
      auth: "installation",
      permission: [["pull_requests", "read"]],
      handler: async (ctx) => {
        const repo = requireRepo(ctx);
        const pr = issueOr404(repo, ctx.params.pull_number);
        if (pr.kind !== "pull") throw notFound();
        return { status: 200, body: await renderPull(repo, pr) };
      },
    },
  };

  // ---- HTTP: REST ------------------------------------------------------------------------

  async function handleRest(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = (req.method ?? "GET").toUpperCase();
    const path = url.pathname;
    const query = queryObject(url.searchParams);
    const requestId = randomUUID().replace(/-/g, "").slice(0, 20).toUpperCase();
    const record: RecordedRequest = {
      kind: "rest",
      requestId,
      method,
      path,
      query,
      url: req.url ?? path,
      status: 0,
      body: undefined,
      responseBody: undefined,
      operationId: null,
      auth: "none",
      installationId: null,
      at: nowIso(),
    };

    let admission: FaultAdmission | null = null;

    const send = async (result: RouteResult) => {
      await admission?.answer(result.status);
      record.status = result.status;
      record.responseBody = result.body;
      requests.push(record);
      const headers: Record<string, string> = {
        "x-github-request-id": requestId,
        "x-github-api-version-selected": "2022-11-28",
        "x-github-media-type": "github.v3; format=json",
        ...admission?.headers,
        ...result.headers,
      };
      if (result.raw) {
        res.writeHead(result.status, { ...headers, "content-type": result.raw.contentType });
        res.end(result.raw.data);
        return;
      }
      if (result.body === undefined) {
        res.writeHead(result.status, headers);
        res.end();
        return;
      }
      res.writeHead(result.status, { ...headers, "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify(result.body));
    };

    try {
      const received = await readRequestBody(req);
      const auth = await authenticate(req.headers.authorization);
      record.auth = auth.kind;
      if (auth.kind === "installation") record.installationId = auth.token.installationId;
      const op = validator.match(method, path);
      record.operationId = op?.operationId ?? null;
      // Rate limits and injected failures are decided before anything is carried out, so a
      // refused request changes no state, as on GitHub.
      admission = githubFaults.admit({
        requestId,
        method,
        path,
        operationId: record.operationId,
        requester:
          auth.kind === "installation"
            ? { kind: "installation", installationId: auth.token.installationId }
            : auth.kind === "jwt"
              ? { kind: "app", appId: app.id }
              : { kind: "anonymous" },
      });
      const rawBody = decodeBody(received, req.headers["content-encoding"]);
      let parsedBody: unknown;
      let parseError: Error | null = null;
      if (rawBody.length > 0) {
        try {
          parsedBody = JSON.parse(rawBody.toString("utf8"));
          record.body = parsedBody;
        } catch (error) {
          parseError = error as Error;
          record.body = rawBody.toString("utf8");
        }
      }
      if (admission.failure) {
        const { status, body, headers } = admission.failure;
        throw new HttpError(status, body, headers);
      }
      if (!op) {
        unknownRoutes.push({ method, path, reason: "not-in-openapi", operationId: null });
        await send({ status: 404, body: errorBody(404, "Not Found") });
        return;
      }
      const route = routes[op.operationId];
      if (!route) {
        unknownRoutes.push({ method, path, reason: "not-implemented", operationId: op.operationId });
        await send({ status: 404, body: errorBody(404, "Not Found", op.documentationUrl) });
        return;
      }

      const fault = faults.find((f) => f.operationId === op.operationId && f.times > 0);
      if (fault) {
        fault.times--;
        if (fault.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
        if (fault.status) throw new HttpError(fault.status, errorBody(fault.status, "Server Error"));
      }

      const ctx: RouteContext = { op, params: op.params, query, body: undefined, headers: req.headers, path, auth, repo: null };

      if (route.auth === "none") {
        // Credentials are neither needed nor checked.
      } else if (route.auth === "jwt") {
        if (auth.kind === "invalid") throw new HttpError(401, errorBody(401, auth.message));
        if (auth.kind !== "jwt") throw new HttpError(401, errorBody(401, "A JSON web token could not be decoded"));
      } else if (route.auth === "user") {
        if (auth.kind === "invalid") throw new HttpError(401, errorBody(401, auth.message));
        if (auth.kind !== "user") throw new HttpError(auth.kind === "none" ? 401 : 403, errorBody(auth.kind === "none" ? 401 : 403, auth.kind === "none" ? "Requires authentication" : "Resource not accessible by integration", op.documentationUrl));
      } else {
        if (auth.kind === "user") {
          // The emulator serves user access tokens only what Slipway asks with them.
          throw new HttpError(403, errorBody(403, "emulator: a user access token is accepted only by GET /user", op.documentationUrl));
        }
        if (auth.kind === "none") throw new HttpError(401, errorBody(401, "Requires authentication"));
        if (auth.kind === "invalid") throw new HttpError(401, errorBody(401, auth.message));
        if (auth.kind === "jwt") {
          throw new HttpError(403, errorBody(403, "A JSON web token can only be used for /app endpoints; use an installation access token."));
        }
      }

      if (parseError) {
        recordValidation({ ...ctx, body: record.body }, "json", "Problems parsing JSON", [
          { instancePath: "", keyword: "json", message: parseError.message, params: {}, schemaPath: "" },
        ]);
        throw new HttpError(400, errorBody(400, "Problems parsing JSON", op.documentationUrl));
      }
      ctx.body = parsedBody;

      if (op.template.startsWith("/repos/{owner}/{repo}") && route.auth === "installation" && auth.kind === "installation") {
        const repo = repoState(op.params.owner ?? "", op.params.repo ?? "");
        if (!repo || !tokenCanAccess(auth.token, repo)) throw notFound();
        ctx.repo = repo;
      }
      if (route.permission && auth.kind === "installation") {
        const perms = auth.token.permissions;
        if (!route.permission.some(([name, level]) => hasPermission(perms, name, level))) {
          throw new HttpError(403, errorBody(403, "Resource not accessible by integration", op.documentationUrl));
        }
      }

      const { bodyIssues, queryIssues } = validator.validateRequest(op, { query, body: ctx.body });
      if (queryIssues.length > 0) {
        recordValidation(ctx, "query", "Invalid query parameters.", queryIssues);
        throw new HttpError(422, {
          message: "Invalid request.",
          errors: validator.toGitHubErrors(op, queryIssues) as unknown as JsonValue,
          documentation_url: op.documentationUrl,
          status: "422",
        });
      }
      const limitIssues = op.operationId === "checks/create" || op.operationId === "checks/update" ? checkRunLimitIssues(isObject(ctx.body) ? ctx.body : {}) : [];
      const schemaIssues = bodyIssues.filter(
        (issue) => !limitIssues.some((l) => l.instancePath === issue.instancePath && l.keyword === issue.keyword),
      );
      if (limitIssues.length > 0) recordValidation(ctx, "limit", "GitHub size limit exceeded.", limitIssues);
      if (schemaIssues.length > 0) recordValidation(ctx, "schema", "Request body does not match the OpenAPI schema.", schemaIssues);
      if (limitIssues.length > 0 || schemaIssues.length > 0) {
        throw new HttpError(422, {
          message: "Invalid request.",
          errors: validator.toGitHubErrors(op, [...limitIssues, ...schemaIssues]) as unknown as JsonValue,
          documentation_url: op.documentationUrl,
          status: "422",
        });
      }

      const result = await route.handler(ctx);
      if (validateResponses && result.body !== undefined && !result.raw) {
        const issues = validator.validateResponse(op, result.status, result.body);
        if (issues.length > 0) {
          responseValidationErrors.push({ method, path, operationId: op.operationId, status: result.status, errors: issues });
        }
      }
      await send(result);
    } catch (error) {
      if (error instanceof HttpError) {
        await send({ status: error.status, body: error.body, headers: error.headers });
        return;
      }
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      await send({ status: 500, body: { ...errorBody(500, "Server Error"), emulator_error: message } });
    }
  }

  // ---- HTTP: git smart protocol --------------------------------------------------------------

  const GIT_PATH = /^\/([^/]+)\/([^/]+?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack)$/;

  async function handleGit(req: IncomingMessage, res: ServerResponse, url: URL, match: RegExpExecArray): Promise<void> {
    const [, owner = "", repoName = "", action = ""] = match;
    const method = (req.method ?? "GET").toUpperCase();
    const service = action === "info/refs" ? url.searchParams.get("service") : action;
    const record: GitRequestRecord = {
      method,
      url: req.url ?? url.pathname,
      path: url.pathname,
      service,
      headers: { ...req.headers },
      status: 0,
      owner,
      repo: repoName,
      auth: "none",
      installationId: null,
      at: nowIso(),
    };
    const recordGit = () => {
      gitRequests.push(record);
      requests.push({
        kind: "git",
        requestId: randomUUID(),
        method,
        path: url.pathname,
        query: queryObject(url.searchParams),
        url: record.url,
        status: record.status,
        body: undefined,
        responseBody: undefined,
        operationId: null,
        auth: record.auth === "invalid" ? "invalid" : record.auth === "none" ? "none" : "installation",
        installationId: record.installationId,
        at: record.at,
      });
    };
    const sendText = (status: number, text: string, headers: Record<string, string> = {}) => {
      record.status = status;
      recordGit();
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...headers });
      res.end(text);
    };
    const challenge = { "www-authenticate": 'Basic realm="GitHub"' };

    const body = decodeBody(await readRequestBody(req), req.headers["content-encoding"]);
    const credentials = credentialsFrom(req.headers.authorization);
    if (!credentials) {
      record.auth = req.headers.authorization ? "invalid" : "none";
      sendText(401, "Invalid username or token. Password authentication is not supported for Git operations.\n", challenge);
      return;
    }
    record.auth = credentials.scheme === "basic" ? "basic" : "bearer";
    const token = tokens.get(credentials.secret);
    if (!token || token.revoked || new Date(token.expiresAt).getTime() <= now().getTime()) {
      record.auth = "invalid";
      sendText(401, "Invalid username or token. Password authentication is not supported for Git operations.\n", challenge);
      return;
    }
    record.installationId = token.installationId;
    const repo = repoState(owner, repoName);
    if (!repo || !tokenCanAccess(token, repo)) {
      sendText(404, "Repository not found.\n");
      return;
    }
    if (service === "git-receive-pack") {
      sendText(403, `Permission to ${repo.record.full_name}.git denied to ${shapes.botLogin(app)}.\n`);
      return;
    }
    if (service !== "git-upload-pack" || (action === "info/refs" ? method !== "GET" : method !== "POST")) {
      sendText(403, "Only the smart HTTP git-upload-pack service is available.\n");
      return;
    }
    if (!hasPermission(token.permissions, "contents", "read")) {
      sendText(403, `Permission to ${repo.record.full_name}.git denied to ${shapes.botLogin(app)}.\n`);
      return;
    }
    const gitProtocol = req.headers["git-protocol"];
    record.status = await serveGitHttpBackend(
      {
        method,
        projectRoot: reposRoot,
        pathInfo: `/${repo.record.owner}/${repo.record.name}.git/${action}`,
        queryString: url.search.replace(/^\?/, ""),
        contentType: req.headers["content-type"],
        body,
        gitProtocol: Array.isArray(gitProtocol) ? gitProtocol.join(":") : gitProtocol,
        remoteUser: "x-access-token",
        children,
      },
      res,
    );
    recordGit();
  }

  // ---- server ------------------------------------------------------------------------------

  // ---- HTTP: the manifest flow's web form ----------------------------------------------------

  // What github.com does when the "Create GitHub App" button of /settings/apps/new is pressed
  // (the emulator presses it at once): the posted manifest is checked, a one-time code made,
  // and the browser sent to the manifest's redirect_url with the code and the caller's state.
  async function handleManifestForm(req: IncomingMessage, res: ServerResponse, url: URL, organization: string | undefined): Promise<void> {
    const reject = (message: string) => {
      manifestFormErrors.push(message);
      res.writeHead(422, { "content-type": "text/plain; charset=utf-8" }).end(message);
    };
    if ((req.method ?? "GET").toUpperCase() !== "POST") return void reject("the manifest must be POSTed as a form field named manifest");
    const form = new URLSearchParams(decodeBody(await readRequestBody(req), req.headers["content-encoding"]).toString("utf8"));
    let manifest: ManifestInput;
    try {
      manifest = JSON.parse(form.get("manifest") ?? "") as ManifestInput;
    } catch {
      return void reject("the manifest field is not JSON");
    }
    const problems = manifestProblems(manifest);
    if (problems.length > 0) return void reject(`invalid manifest: ${problems.join("; ")}`);
    const code = randomBytes(10).toString("hex");
    manifestCodes.set(code, { manifest, owner: organization ?? app.ownerLogin, expiresAt: now().getTime() + 60 * 60 * 1000 });
    const target = new URL(manifest.redirect_url!);
    target.searchParams.set("code", code);
    const state = url.searchParams.get("state");
    if (state !== null) target.searchParams.set("state", state);
    res.writeHead(302, { location: target.toString() }).end();
  }

  const MANIFEST_FORM_PATH = /^(?:\/organizations\/([^/]+))?\/settings\/apps\/new$/;

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const gitMatch = GIT_PATH.exec(url.pathname);
    const formMatch = MANIFEST_FORM_PATH.exec(url.pathname);
    const work = oauth.serve(req, res, url) || (gitMatch ? handleGit(req, res, url, gitMatch) : formMatch ? handleManifestForm(req, res, url, formMatch[1]) : handleRest(req, res, url));
    work.catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(error instanceof Error ? error.stack : error));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  apiUrl = `http://127.0.0.1:${port}`;
  shapes = createGitHubShapes({ apiUrl, webUrl: apiUrl });

  // ---- public API ----------------------------------------------------------------------------

  const gitUrl = (owner: string, repo: string) => `${apiUrl}/${owner}/${repo}.git`;
  const nameRe = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

  const emulator: GitHubEmulator = {
    get apiUrl() {
      return apiUrl;
    },
    get port() {
      return port;
    },
    app,
    gitUrl,
    oauthClient,
    oauthRequests: oauth.records,
    signInAs: (login) => oauth.signInAs(login),

    async createRepo(input) {
      if (!nameRe.test(input.owner) || !nameRe.test(input.name) || input.name.endsWith(".git")) {
        throw new Error(`emulator: invalid repository name ${input.owner}/${input.name}`);
      }
      if (repoState(input.owner, input.name)) throw new Error(`emulator: repository ${input.owner}/${input.name} exists`);
      const ownerType = input.ownerType ?? "User";
      const existing = installations.get(input.installationId);
      if (existing && existing.account.toLowerCase() !== input.owner.toLowerCase()) {
        throw new Error(`emulator: installation ${input.installationId} belongs to ${existing.account}, not ${input.owner}`);
      }
      if (!existing) {
        installations.set(input.installationId, { id: input.installationId, account: input.owner, accountType: ownerType, createdAt: nowIso() });
      }
      const defaultBranch = input.defaultBranch ?? "main";
      const gitDir = join(reposRoot, input.owner, `${input.name}.git`);
      await mkdir(join(reposRoot, input.owner), { recursive: true });
      const git = await BareRepository.init(gitDir, defaultBranch);
      const id = nextId("repo");
      const fullName = `${input.owner}/${input.name}`;
      const record: RepoRecord = {
        id,
        node_id: shapes.nodeId("Repository", id),
        name: input.name,
        full_name: fullName,
        owner: input.owner,
        ownerId: userIdFor(input.owner),
        ownerType,
        private: input.private ?? false,
        clone_url: gitUrl(input.owner, input.name),
        html_url: shapes.repoHtmlUrl({ full_name: fullName }),
        url: shapes.repoApiUrl({ full_name: fullName }),
        default_branch: defaultBranch,
        installationId: input.installationId,
        created_at: nowIso(),
        description: input.description ?? null,
      };
      const state: RepoState = { record, git, pushedAt: null, issues: new Map(), nextNumber: 1, roles: new Map(), customRoles: new Map() };
      repos.set(repoKey(input.owner, input.name), state);
      reposById.set(id, state);
      return { ...record };
    },

    repo(owner, name) {
      const state = repoState(owner, name);
      return state ? { ...state.record } : undefined;
    },

    async commit(input) {
      const repo = mustRepo(input.owner, input.repo);
      const branch = input.branch ?? repo.record.default_branch;
      const timestamp = nowIso();
      const author: GitIdentity = {
        name: input.author?.name ?? repo.record.owner,
        email: input.author?.email ?? `${repo.record.ownerId}+${repo.record.owner}@users.noreply.github.com`,
        date: input.author?.date ?? timestamp,
      };
      const committer: GitIdentity = {
        name: input.committer?.name ?? author.name,
        email: input.committer?.email ?? author.email,
        date: input.committer?.date ?? timestamp,
      };
      const result = await repo.git.commit({ branch, files: input.files, message: input.message, author, committer, ...(input.from ? { from: input.from } : {}) });
      repo.pushedAt = timestamp;
      emulatorCommitLog.record(repo.record.id, {
        sha: result.sha,
        tree: result.tree,
        parents: result.parents,
        message: input.message,
        timestamp,
        author: { name: author.name, email: author.email },
        committer: { name: committer.name, email: committer.email },
        added: result.added,
        modified: result.modified,
        removed: result.removed,
      });
      for (const issue of repo.issues.values()) {
        if (issue.kind !== "pull") continue;
        if (issue.headRef === branch) {
          issue.headSha = result.sha;
          issue.updatedAt = timestamp;
        }
        if (issue.baseRef === branch) issue.baseSha = result.sha;
      }
      return { ...result, branch, ref: `refs/heads/${branch}`, message: input.message, author, committer, timestamp };
    },

    branchHead(owner, repo, branch) {
      return mustRepo(owner, repo).git.branchHead(branch);
    },

    async fastForward(input) {
      const repo = mustRepo(input.owner, input.repo);
      const moved = await repo.git.fastForward(input.branch, input.to);
      repo.pushedAt = nowIso();
      for (const issue of repo.issues.values()) if (issue.kind === "pull" && issue.baseRef === input.branch) issue.baseSha = moved.after;
      return { ...moved, ref: `refs/heads/${input.branch}` };
    },

    async createPullRequest(input) {
      const repo = mustRepo(input.owner, input.repo);
      const baseRef = input.base ?? repo.record.default_branch;
      const headSha = await repo.git.branchHead(input.head);
      const baseSha = await repo.git.branchHead(baseRef);
      if (!headSha) throw new Error(`emulator: head branch ${input.head} does not exist`);
      if (!baseSha) throw new Error(`emulator: base branch ${baseRef} does not exist`);
      const at = nowIso();
      const pr: IssueState = {
        number: repo.nextNumber++,
        id: nextId("pull"),
        kind: "pull",
        title: input.title ?? `Merge ${input.head} into ${baseRef}`,
        body: input.body ?? null,
        user: input.user ?? repo.record.owner,
        state: "open",
        createdAt: at,
        updatedAt: at,
        headRef: input.head,
        baseRef,
        headSha,
        baseSha,
        draft: input.draft ?? false,
      };
      repo.issues.set(pr.number, pr);
      return renderPull(repo, pr);
    },

    async createIssue(input) {
      const repo = mustRepo(input.owner, input.repo);
      const at = nowIso();
      const issue: IssueState = {
        number: repo.nextNumber++,
        id: nextId("issue"),
        kind: "issue",
        title: input.title,
        body: input.body ?? null,
        user: input.user ?? repo.record.owner,
        state: "open",
        createdAt: at,
        updatedAt: at,
      };
      repo.issues.set(issue.number, issue);
      return { number: issue.number, id: issue.id };
    },

    createIssueComment(input) {
      const repo = mustRepo(input.owner, input.repo);
      if (!repo.issues.has(input.issueNumber)) throw new Error(`emulator: no issue or pull request #${input.issueNumber}`);
      const at = nowIso();
      const comment: IssueCommentState = {
        id: nextId("issueComment"),
        repoId: repo.record.id,
        issueNumber: input.issueNumber,
        body: input.body,
        user: input.user ?? repo.record.owner,
        userType: input.userType ?? "User",
        viaApp: false,
        createdAt: at,
        updatedAt: at,
        deleted: false,
      };
      issueComments.set(comment.id, comment);
      return renderIssueComment(comment) as unknown as CommentView;
    },

    async createCommitComment(input) {
      const repo = mustRepo(input.owner, input.repo);
      const sha = await repo.git.resolveCommit(input.sha);
      if (!sha) throw new Error(`emulator: unknown commit ${input.sha}`);
      const at = nowIso();
      const comment: CommitCommentState = {
        id: nextId("commitComment"),
        repoId: repo.record.id,
        commitId: sha,
        body: input.body,
        path: input.path ?? null,
        position: null,
        line: input.line ?? null,
        user: input.user ?? repo.record.owner,
        userType: input.userType ?? "User",
        viaApp: false,
        createdAt: at,
        updatedAt: at,
      };
      commitCommentStates.set(comment.id, comment);
      return renderCommitComment(comment) as unknown as CommentView;
    },

    setPermission(owner, repo, user, role, customRoleName) {
      const state = mustRepo(owner, repo);
      state.roles.set(user.toLowerCase(), role);
      if (customRoleName) state.customRoles.set(user.toLowerCase(), customRoleName);
      else state.customRoles.delete(user.toLowerCase());
    },

    createInstallationToken(installationId, tokenOptions = {}) {
      if (!installations.has(installationId)) throw new Error(`emulator: unknown installation ${installationId}`);
      return issueTokenState(installationId, { ...app.permissions }, tokenOptions.repositoryIds ?? null, "helper").token;
    },

    revokeToken(token) {
      const state = tokens.get(token);
      if (state) state.revoked = true;
    },

    now,
    advanceClock(ms) {
      clockOffset += ms;
    },

    requests,
    gitRequests,
    validationErrors,
    responseValidationErrors,
    unknownRoutes,
    registeredApps,
    manifestFormErrors,
    tokensIssued,

    checkRuns(owner, repo, filter = {}) {
      const state = mustRepo(owner, repo);
      return [...checkRunStates.values()]
        .filter((r) => r.repoId === state.record.id)
        .filter((r) => !filter.headSha || r.headSha === filter.headSha)
        .filter((r) => !filter.name || r.name === filter.name)
        .sort((a, b) => a.id - b.id)
        .map(checkRunView);
    },
    checkRun(id) {
      const run = checkRunStates.get(id);
      return run ? checkRunView(run) : undefined;
    },
    checkRunHistory(id) {
      return structuredClone(checkRunStates.get(id)?.history ?? []);
    },
    comments(owner, repo, issueNumber) {
      const state = mustRepo(owner, repo);
      return [...issueComments.values()]
        .filter((c) => !c.deleted && c.repoId === state.record.id && (issueNumber === undefined || c.issueNumber === issueNumber))
        .sort((a, b) => a.id - b.id)
        .map((c) => renderIssueComment(c) as unknown as CommentView);
    },
    commitComments(owner, repo, sha) {
      const state = mustRepo(owner, repo);
      return [...commitCommentStates.values()]
        .filter((c) => c.repoId === state.record.id && (sha === undefined || c.commitId === sha))
        .sort((a, b) => a.id - b.id)
        .map((c) => renderCommitComment(c) as unknown as CommentView);
    },
    reactions(owner, repo, filter = {}) {
      const state = mustRepo(owner, repo);
      return [...reactionStates.values()]
        .filter((r) => r.repoId === state.record.id)
        .filter((r) => filter.includeDeleted || !r.deleted)
        .filter((r) => !filter.subject || r.subject === filter.subject)
        .filter((r) => filter.commentId === undefined || r.commentId === filter.commentId)
        .sort((a, b) => a.id - b.id)
        .map((r) => ({ id: r.id, content: r.content, subject: r.subject, commentId: r.commentId, user: r.user, deleted: r.deleted, json: renderReaction(r) }));
    },
    deployments(owner, repo) {
      const state = mustRepo(owner, repo);
      return [...deploymentStates.values()]
        .filter((d) => d.repoId === state.record.id)
        .sort((a, b) => a.id - b.id)
        .map((d) => ({
          ...(renderDeployment(d) as unknown as DeploymentView),
          statuses: d.statuses.map((s) => renderDeploymentStatus(d, s) as unknown as DeploymentView["statuses"][number]),
        }));
    },
    injectFault(fault) {
      faults.push({ ...fault });
    },
    faults: githubFaults.controls,
    clearRecords() {
      githubFaults.controls.served.length = 0;
      requests.length = 0;
      gitRequests.length = 0;
      validationErrors.length = 0;
      responseValidationErrors.length = 0;
      unknownRoutes.length = 0;
    },
    waitFor(fn, waitOptions) {
      return waitFor(fn, {
        ...waitOptions,
        describe: () => {
          const recent = requests.slice(-8).map((r) => `${r.method} ${r.path} → ${r.status}`);
          return [
            waitOptions?.describe?.() ?? "",
            recent.length ? `recent emulator requests:\n  ${recent.join("\n  ")}` : "no REST requests reached the emulator",
            validationErrors.length ? `validation errors: ${inspect(validationErrors.map((v) => `${v.method} ${v.path}: ${v.message}`))}` : "",
            unknownRoutes.length ? `unknown routes: ${inspect(unknownRoutes.map((u) => `${u.method} ${u.path}`))}` : "",
          ]
            .filter(Boolean)
            .join("\n");
        },
      });
    },
    async stop() {
      githubFaults.controls.clear();
      for (const child of children) child.kill("SIGKILL");
      for (const repo of reposById.values()) emulatorCommitLog.forget(repo.record.id);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await rm(root, { recursive: true, force: true });
    },
  };
  return emulator;
}
