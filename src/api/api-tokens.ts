// Owns API tokens: how they are made, stored (as a sha256 only) and checked. A token is
// shown once, when it is created. Kinds: `server` (operators and their backends: full API
// access, may execute any function), `client` (end users: may execute only functions whose
// permissions allow their teams or scopes), and `execution` (short-lived, scoped to one
// function, handed to a running execution). An execution key handed to one deployment (a
// preview, a fork's build, a /d/ URL) carries that deployment as the scope
// `deployment:<id>`, and works for that deployment only (see can-execute.ts).
import { createHash, randomBytes } from "node:crypto";
import type { Queryable } from "../store/create-database.js";

export type TokenKind = "server" | "client" | "execution";

/** Who made a request: a token's kind, or `user`, a person signed in to the console with GitHub. */
export type PrincipalKind = TokenKind | "user";

export type Principal = {
  tokenId: string;
  name: string;
  kind: PrincipalKind;
  teams: string[];
  scopes: string[];
  functionId: string | null;
  /** The one deployment an execution key works for; null for a key of the whole function. */
  deploymentId: string | null;
};

const deploymentScope = "deployment:";

const tokenPattern = /^slw_[A-Za-z0-9_-]{32,}$/;

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export async function createApiToken(
  db: Queryable,
  options: { name: string; kind: TokenKind; teams?: string[]; scopes?: string[]; functionId?: string; deploymentId?: string; expiresInSeconds?: number },
): Promise<{ id: string; token: string }> {
  const scopes = [...(options.scopes ?? []), ...(options.deploymentId ? [`${deploymentScope}${options.deploymentId}`] : [])];
  const token = `slw_${randomBytes(32).toString("base64url")}`;
  const result = await db.query<{ id: string }>(
    `insert into api_tokens (name, token_hash, kind, teams, scopes, function_id, expires_at)
     values ($1, $2, $3, $4, $5, $6, case when $7::int is null then null else now() + make_interval(secs => $7::int) end)
     returning id`,
    [options.name, hashToken(token), options.kind, options.teams ?? [], scopes, options.functionId ?? null, options.expiresInSeconds ?? null],
  );
  return { id: result.rows[0]!.id, token };
}

/** The principal behind an `Authorization: Bearer slw_…` header, or null. */
export async function authenticateToken(db: Queryable, authorization: string | undefined): Promise<Principal | null> {
  const token = authorization?.startsWith("Bearer ") ? authorization.slice("Bearer ".length).trim() : undefined;
  if (!token || !tokenPattern.test(token)) return null;
  const result = await db.query<Omit<Principal, "deploymentId">>(
    `update api_tokens set last_used_at = now()
      where token_hash = $1 and revoked_at is null and (expires_at is null or expires_at > now())
      returning id as "tokenId", name, kind, teams, scopes, function_id as "functionId"`,
    [hashToken(token)],
  );
  const row = result.rows[0];
  if (!row) return null;
  const scoped = row.kind === "execution" ? row.scopes.find((scope) => scope.startsWith(deploymentScope)) : undefined;
  return { ...row, deploymentId: scoped ? scoped.slice(deploymentScope.length) : null };
}

export async function revokeApiToken(db: Queryable, tokenId: string): Promise<boolean> {
  const result = await db.query("update api_tokens set revoked_at = now() where id = $1 and revoked_at is null", [tokenId]);
  return result.rowCount === 1;
}
