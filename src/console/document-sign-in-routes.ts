// Owns the OpenAPI description of the console's sign-in routes (served by
// sign-in-with-github.ts, not by the API router), so the API's description names every way
// in: API tokens, and the session cookie that signing in with GitHub sets.
import type { ApiRouter } from "../api/create-api-router.js";

export function documentSignInRoutes(api: ApiRouter): void {
  const tags = ["sign-in"];
  const htmlError = { description: "An HTML page that says what went wrong, with a link to start again" };
  api.document("GET", "/auth/github", {
    summary: "Start signing in with GitHub: redirects to GitHub's authorization page (the GitHub App's user authorization, OAuth web flow with `state` and PKCE S256)",
    tags,
    security: [],
    parameters: [{ name: "returnTo", in: "query", required: false, schema: { type: "string" }, description: "A path on this console to come back to (default /dashboard)" }],
    responses: { "302": { description: "To GitHub, with a short-lived sign-in cookie that holds the state" }, "503": { description: "Sign-in with GitHub is off: GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET are not set" } },
  });
  api.document("GET", "/auth/github/callback", {
    summary: "Where GitHub sends the browser back: checks the state, exchanges the code with its PKCE verifier, asks GitHub who signed in, and starts a session",
    tags,
    security: [],
    parameters: ["code", "state", "error", "error_description"].map((name) => ({ name, in: "query", required: false, schema: { type: "string" } })),
    responses: { "303": { description: "Back to `returnTo`, with the `slipway_session` cookie (HttpOnly, SameSite=Lax, Secure over HTTPS; 8 hours)" }, "400": htmlError, "502": htmlError },
  });
  api.document("GET", "/auth/session", {
    summary: "Who is signed in, the session's CSRF token for state-changing calls, and whether sign-in with GitHub is on",
    tags,
    security: [{}, { session: [] }],
    responses: {
      "200": {
        description: "`user` and `csrfToken` are null without a session",
        content: {
          "application/json": {
            schema: {
              type: "object",
              required: ["user", "csrfToken", "signInWithGithub"],
              properties: {
                user: { oneOf: [{ type: "null" }, { type: "object", required: ["login"], properties: { login: { type: "string" } } }] },
                csrfToken: { type: ["string", "null"] },
                signInWithGithub: { type: "boolean" },
              },
            },
          },
        },
      },
    },
  });
  api.document("POST", "/auth/sign-out", {
    summary: "End the session and clear its cookie",
    tags,
    security: [{ session: [], csrf: [] }],
    responses: { "200": { description: "`{ signedOut: true }`" }, "403": { description: "The session's CSRF token is missing or wrong" } },
  });
}
