// Owns the console's sign-in with GitHub: the GitHub App's user authorization (the OAuth web
// flow, with `state` and PKCE S256), the session it ends in, the session's description for
// the page (`GET /auth/session`, with its CSRF token) and signing out. The user's GitHub
// token is used once, to ask `GET /user` who signed in, and then dropped: what a user may see
// and do is asked of GitHub with the app's installation token (see repository-access.ts).
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { GithubConfig } from "../config/load-config.js";
import { createSession, deleteSession, saveSignIn, takeSignIn } from "../store/console-sessions.js";
import type { Queryable } from "../store/create-database.js";
import { authenticateSession, cookieHeader, hasCsrfToken, randomSecret, sessionCookie, sessionTtlSeconds, sha256, signInCookie, readCookie } from "./console-session.js";
import { githubWebUrl } from "./github-web-url.js";

export type SignInDependencies = { db: Queryable; github: GithubConfig; appUrl: string; log: Logger };

const signInTtlSeconds = 600;

/** A path on this console to come back to; anything else (another origin, `//host`) is `/dashboard`. */
function safeReturnTo(value: string | null): string {
  return value && /^\/(?![/\\])[\x21-\x7e]*$/.test(value) ? value : "/dashboard";
}

function page(res: ServerResponse, status: number, title: string, text: string, retry?: string): void {
  const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escape(title)}</title><link rel="stylesheet" href="/dashboard/dashboard.css"></head><body><main><h1>${escape(title)}</h1><p id="message">${escape(text)}</p>${retry ? `<p><a href="${escape(retry)}">Sign in with GitHub again</a></p>` : ""}</main></body></html>`;
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
  }).end(body);
}

function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers }).end(JSON.stringify(value));
}

export function createSignInWithGithub(deps: SignInDependencies) {
  const secure = deps.appUrl.startsWith("https:");
  const webUrl = githubWebUrl(deps.github.GITHUB_API_URL);
  const redirectUri = `${deps.appUrl}/auth/github/callback`;
  const enabled = Boolean(deps.github.GITHUB_CLIENT_ID && deps.github.GITHUB_CLIENT_SECRET);

  async function start(url: URL, res: ServerResponse): Promise<void> {
    const returnTo = safeReturnTo(url.searchParams.get("returnTo"));
    if (!enabled) {
      return page(res, 503, "Sign-in with GitHub is off", "This Slipway has no GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET (from the GitHub App's settings page). Set both and restart, or open the console with an API token.");
    }
    const state = randomSecret();
    const codeVerifier = randomSecret();
    await saveSignIn(deps.db, { stateHash: sha256(state), codeVerifier, returnTo, ttlSeconds: signInTtlSeconds });
    const authorize = new URL(`${webUrl}/login/oauth/authorize`);
    authorize.search = new URLSearchParams({
      client_id: deps.github.GITHUB_CLIENT_ID!,
      redirect_uri: redirectUri,
      state,
      code_challenge: createHash("sha256").update(codeVerifier).digest("base64url"),
      code_challenge_method: "S256",
    }).toString();
    res.writeHead(302, {
      location: authorize.toString(),
      "set-cookie": cookieHeader(signInCookie, state, { secure, maxAgeSeconds: signInTtlSeconds, path: "/auth/github" }),
      "cache-control": "no-store",
    }).end();
  }

  async function callback(url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const state = url.searchParams.get("state") ?? "";
    const code = url.searchParams.get("code") ?? "";
    const retry = "/auth/github";
    const clearSignIn = cookieHeader(signInCookie, "", { secure, maxAgeSeconds: 0, path: "/auth/github" });
    if (url.searchParams.get("error")) {
      res.setHeader("set-cookie", clearSignIn);
      return page(res, 400, "Not signed in", `GitHub answered: ${url.searchParams.get("error_description") ?? url.searchParams.get("error")}.`, retry);
    }
    // The state must be the one this browser was sent with, and one this server handed out.
    if (!state || !code || readCookie(req, signInCookie) !== state) {
      return page(res, 400, "Not signed in", "This sign-in did not start in this browser, or it took longer than ten minutes. Start again.", retry);
    }
    const signIn = await takeSignIn(deps.db, sha256(state));
    if (!signIn) return page(res, 400, "Not signed in", "This sign-in was already used or has expired. Start again.", retry);

    const exchange = await fetch(`${webUrl}/login/oauth/access_token`, {
      method: "POST",
      headers: { accept: "application/json", "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: deps.github.GITHUB_CLIENT_ID!, client_secret: deps.github.GITHUB_CLIENT_SECRET!, code, redirect_uri: redirectUri, code_verifier: signIn.codeVerifier }),
    });
    const answer = (await exchange.json().catch(() => ({}))) as { access_token?: string; error?: string; error_description?: string };
    if (!exchange.ok || !answer.access_token) {
      // GitHub's error names the problem (bad_verification_code, incorrect_client_credentials); it holds no secret.
      deps.log.warn({ status: exchange.status, error: answer.error }, "GitHub refused a console sign-in");
      const why = answer.error === "incorrect_client_credentials" ? "GitHub refused this Slipway's GITHUB_CLIENT_ID or GITHUB_CLIENT_SECRET; an operator must fix them." : `GitHub answered: ${answer.error_description ?? answer.error ?? `HTTP ${exchange.status}`}.`;
      return page(res, 502, "Not signed in", why, retry);
    }
    const who = await fetch(`${deps.github.GITHUB_API_URL.replace(/\/+$/, "")}/user`, {
      headers: { accept: "application/vnd.github+json", authorization: `Bearer ${answer.access_token}`, "x-github-api-version": "2022-11-28" },
    });
    const user = (await who.json().catch(() => ({}))) as { login?: string; id?: number };
    if (!who.ok || !user.login || typeof user.id !== "number") return page(res, 502, "Not signed in", `GitHub did not say who signed in (GET /user answered ${who.status}). Try again.`, retry);

    const id = randomSecret();
    await createSession(deps.db, { idHash: sha256(id), githubUserId: user.id, login: user.login, csrfToken: randomSecret(), ttlSeconds: sessionTtlSeconds });
    deps.log.info({ login: user.login }, "signed in to the console");
    res.writeHead(303, {
      location: signIn.returnTo,
      "set-cookie": [cookieHeader(sessionCookie, id, { secure, maxAgeSeconds: sessionTtlSeconds }), clearSignIn],
      "cache-control": "no-store",
    }).end();
  }

  async function describe(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const session = await authenticateSession(deps.db, req);
    json(res, 200, { user: session ? { login: session.principal.name } : null, csrfToken: session?.csrfToken ?? null, signInWithGithub: enabled });
  }

  async function signOut(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const session = await authenticateSession(deps.db, req);
    if (session && !hasCsrfToken(req, session.csrfToken)) return json(res, 403, { error: "signing out needs the session's CSRF token in the x-slipway-csrf header" });
    if (session) await deleteSession(deps.db, session.idHash);
    json(res, 200, { signedOut: true }, { "set-cookie": cookieHeader(sessionCookie, "", { secure, maxAgeSeconds: 0 }) });
  }

  /** Answers the sign-in routes under /auth/; false for any other request. */
  return function serveSignIn(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? "/", "http://local");
    const route = `${req.method} ${url.pathname}`;
    const work =
      route === "GET /auth/github" ? start(url, res)
      : route === "GET /auth/github/callback" ? callback(url, req, res)
      : route === "GET /auth/session" ? describe(req, res)
      : route === "POST /auth/sign-out" ? signOut(req, res)
      : null;
    if (!work) return false;
    work.catch((error: unknown) => {
      deps.log.error({ err: error, path: url.pathname }, "console sign-in failed");
      if (!res.headersSent) page(res, 502, "Not signed in", "Slipway could not reach GitHub to finish signing in. Try again.", "/auth/github");
      else res.end();
    });
    return true;
  };
}
