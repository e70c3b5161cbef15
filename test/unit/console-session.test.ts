// The console's pure pieces: where GitHub's web pages are for an API URL, the session
// cookie's attributes, and the CSRF check.
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { test } from "node:test";
import { cookieHeader, hasCsrfToken, readCookie } from "../../src/console/console-session.js";
import { githubWebUrl } from "../../src/console/github-web-url.js";

test("GitHub's web pages: github.com for api.github.com, the host for GitHub Enterprise Server, the origin otherwise", () => {
  assert.equal(githubWebUrl("https://api.github.com"), "https://github.com");
  assert.equal(githubWebUrl("https://ghe.example.com/api/v3"), "https://ghe.example.com");
  assert.equal(githubWebUrl("https://ghe.example.com/api/v3/"), "https://ghe.example.com");
  assert.equal(githubWebUrl("http://127.0.0.1:4000"), "http://127.0.0.1:4000");
});

test("the session cookie is HttpOnly and SameSite=Lax always, Secure only over HTTPS", () => {
  assert.equal(cookieHeader("slipway_session", "abc", { secure: false, maxAgeSeconds: 60 }), "slipway_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=60");
  assert.equal(cookieHeader("slipway_session", "abc", { secure: true, maxAgeSeconds: 60 }), "slipway_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure");
});

test("a cookie is read by its exact name, and the CSRF header must equal the session's token", () => {
  const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
  assert.equal(readCookie(req({ cookie: "other_slipway_session=x; slipway_session=abc=; theme=dark" }), "slipway_session"), "abc=");
  assert.equal(readCookie(req({}), "slipway_session"), undefined);
  assert.equal(hasCsrfToken(req({ "x-slipway-csrf": "token-1" }), "token-1"), true);
  assert.equal(hasCsrfToken(req({ "x-slipway-csrf": "token-2" }), "token-1"), false);
  assert.equal(hasCsrfToken(req({ "x-slipway-csrf": "token" }), "token-1"), false, "a shorter token");
  assert.equal(hasCsrfToken(req({}), "token-1"), false);
});
