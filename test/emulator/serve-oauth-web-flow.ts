/**
 * The GitHub App's user authorization (OAuth web flow) as github.com serves it:
 * `GET /login/oauth/authorize` and `POST /login/oauth/access_token`. These are web
 * endpoints, not in GitHub's OpenAPI description, so their parameters are checked here by
 * hand, after GitHub's documentation ("Generating a user access token for a GitHub App"):
 * client_id must be the app's, redirect_uri (if sent) must be http(s) and be sent again
 * unchanged with the code, code_challenge_method must be S256 with a 43–128 character
 * code_challenge, and a code is used once, within ten minutes, with the code_verifier whose
 * S256 is the challenge. The "browser" is whoever `signInAs` named: authorizing redirects at
 * once, as GitHub does for a user who has authorized the app before. Errors are GitHub's:
 * the token endpoint answers 200 with `{ error, error_description }`.
 */
import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

export interface OAuthClient {
  clientId: string;
  clientSecret: string;
}

export interface OAuthRequestRecord {
  path: string;
  params: Record<string, string>;
  status: number;
  error: string | null;
}

type PendingCode = { login: string; clientId: string; redirectUri: string | null; codeChallenge: string | null; expiresAt: number };

const verifierPattern = /^[A-Za-z0-9._~-]{43,128}$/;

export function createOAuthWebFlow(client: OAuthClient, now: () => Date) {
  const codes = new Map<string, PendingCode>();
  const userTokens = new Map<string, string>(); // token -> login
  const records: OAuthRequestRecord[] = [];
  let signedIn: string | null = null;

  function finish(res: ServerResponse, record: OAuthRequestRecord, status: number, headers: Record<string, string>, body = ""): void {
    record.status = status;
    records.push(record);
    res.writeHead(status, headers).end(body);
  }

  function authorize(url: URL, res: ServerResponse): void {
    const params = Object.fromEntries(url.searchParams);
    const record: OAuthRequestRecord = { path: url.pathname, params, status: 0, error: null };
    const refuse = (error: string) => {
      record.error = error;
      finish(res, record, 400, { "content-type": "text/plain; charset=utf-8" }, error);
    };
    if (params.client_id !== client.clientId) return refuse(`client_id ${JSON.stringify(params.client_id ?? null)} is not this app's client id`);
    const redirectUri = params.redirect_uri ?? null;
    if (redirectUri !== null && !/^https?:\/\/[^\s]+$/.test(redirectUri)) return refuse("redirect_uri must be an http(s) URL");
    if (!redirectUri) return refuse("the emulator has no callback URL registered: send redirect_uri");
    if (params.code_challenge_method !== undefined && params.code_challenge_method !== "S256") return refuse("code_challenge_method must be S256");
    if (params.code_challenge !== undefined && !/^[A-Za-z0-9_-]{43,128}$/.test(params.code_challenge)) return refuse("code_challenge must be 43 to 128 base64url characters");
    if (params.code_challenge !== undefined && params.code_challenge_method === undefined) return refuse("code_challenge needs code_challenge_method=S256");
    if (!signedIn) return refuse("no one is signed in to the emulator's github.com: call emulator.signInAs(login) first");
    const code = randomBytes(10).toString("hex");
    codes.set(code, { login: signedIn, clientId: client.clientId, redirectUri, codeChallenge: params.code_challenge ?? null, expiresAt: now().getTime() + 10 * 60_000 });
    const back = new URL(redirectUri);
    back.searchParams.set("code", code);
    if (params.state !== undefined) back.searchParams.set("state", params.state);
    finish(res, record, 302, { location: back.toString() });
  }

  async function accessToken(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const type = String(req.headers["content-type"] ?? "");
    const params: Record<string, string> = type.includes("application/json") ? (JSON.parse(text || "{}") as Record<string, string>) : Object.fromEntries(new URLSearchParams(text || url.search));
    const record: OAuthRequestRecord = { path: url.pathname, params: { ...params, ...(params.client_secret ? { client_secret: "[redacted]" } : {}) }, status: 0, error: null };
    const asJson = String(req.headers.accept ?? "").includes("application/json");
    const answer = (body: Record<string, string>) => {
      record.error = body.error ?? null;
      finish(res, record, 200, { "content-type": asJson ? "application/json; charset=utf-8" : "application/x-www-form-urlencoded; charset=utf-8" }, asJson ? JSON.stringify(body) : new URLSearchParams(body).toString());
    };
    const fail = (error: string, description: string) => answer({ error, error_description: description, error_uri: "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors" });
    if (params.client_id !== client.clientId || params.client_secret !== client.clientSecret) return fail("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.");
    const pending = params.code ? codes.get(params.code) : undefined;
    if (params.code) codes.delete(params.code);
    if (!pending || pending.expiresAt < now().getTime()) return fail("bad_verification_code", "The code passed is incorrect or expired.");
    if (pending.redirectUri !== null && params.redirect_uri !== undefined && params.redirect_uri !== pending.redirectUri) return fail("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.");
    if (pending.codeChallenge !== null) {
      const verifier = params.code_verifier ?? "";
      if (!verifierPattern.test(verifier) || createHash("sha256").update(verifier).digest("base64url") !== pending.codeChallenge) {
        return fail("bad_verification_code", "The code_verifier does not match the code_challenge sent to /login/oauth/authorize.");
      }
    }
    const token = `ghu_${randomBytes(18).toString("base64url")}`;
    userTokens.set(token, pending.login);
    answer({ access_token: token, token_type: "bearer", scope: "" });
  }

  return {
    records,
    /** Who the emulator's browser is signed in to github.com as; null signs out. */
    signInAs(login: string | null): void {
      signedIn = login;
    },
    /** The login a user access token (ghu_…) was issued to. */
    userForToken(token: string): string | undefined {
      return userTokens.get(token);
    },
    /** Answers the OAuth web endpoints; false for any other request. */
    serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> | false {
      if (url.pathname === "/login/oauth/authorize" && req.method === "GET") return Promise.resolve(authorize(url, res));
      if (url.pathname === "/login/oauth/access_token" && req.method === "POST") return accessToken(req, res, url);
      return false;
    },
  };
}
