// Owns the console's session cookie: its name and attributes, and turning a request's cookie
// into the signed-in GitHub user (a `user` principal) with the session's CSRF token. The
// cookie holds a random id; PostgreSQL holds its sha256 (see store/console-sessions.ts).
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Principal } from "../api/api-tokens.js";
import { findSession } from "../store/console-sessions.js";
import type { Queryable } from "../store/create-database.js";

export const sessionCookie = "slipway_session";
export const signInCookie = "slipway_sign_in";
export const csrfHeader = "x-slipway-csrf";
export const sessionTtlSeconds = 8 * 60 * 60;

export function randomSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function sha256(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

export function readCookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return value.join("=");
  }
  return undefined;
}

/** A Set-Cookie value: HttpOnly and SameSite=Lax always, Secure when the console is served over HTTPS. */
export function cookieHeader(name: string, value: string, options: { secure: boolean; maxAgeSeconds: number; path?: string }): string {
  return [`${name}=${value}`, `Path=${options.path ?? "/"}`, "HttpOnly", "SameSite=Lax", `Max-Age=${options.maxAgeSeconds}`, ...(options.secure ? ["Secure"] : [])].join("; ");
}

export type SessionPrincipal = { principal: Principal; csrfToken: string; idHash: string };

export async function authenticateSession(db: Queryable, req: IncomingMessage): Promise<SessionPrincipal | null> {
  const id = readCookie(req, sessionCookie);
  if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
  const session = await findSession(db, sha256(id));
  if (!session) return null;
  return {
    principal: { tokenId: `session:${session.githubUserId}`, name: session.login, kind: "user", teams: [], scopes: [], functionId: null, deploymentId: null },
    csrfToken: session.csrfToken,
    idHash: session.idHash,
  };
}

/** Whether a state-changing request carries the session's CSRF token (a header a cross-site form cannot send). */
export function hasCsrfToken(req: IncomingMessage, csrfToken: string): boolean {
  const sent = req.headers[csrfHeader];
  if (typeof sent !== "string" || sent.length !== csrfToken.length) return false;
  return timingSafeEqual(Buffer.from(sent), Buffer.from(csrfToken));
}
