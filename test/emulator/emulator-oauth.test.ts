// The emulator's user authorization (OAuth web flow) and GET /user: parameters checked as
// GitHub documents them (these web endpoints are not in the OpenAPI description), PKCE S256
// enforced, codes used once, and /user answered (and validated against the OpenAPI) for a
// user access token only.
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { startGitHubEmulator, type GitHubEmulator } from "./start-github-emulator.js";

describe("emulator: OAuth web flow and /user", () => {
  let emulator: GitHubEmulator;
  const redirectUri = "http://127.0.0.1:9/auth/github/callback";
  const verifier = "v".repeat(43);
  const challenge = createHash("sha256").update(verifier).digest("base64url");

  before(async () => {
    const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048, publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } });
    emulator = await startGitHubEmulator({ appId: 4711, publicKey });
  });
  after(() => emulator?.stop());

  const authorize = (params: Record<string, string>) => fetch(`${emulator.apiUrl}/login/oauth/authorize?${new URLSearchParams(params)}`, { redirect: "manual" });
  const exchange = async (params: Record<string, string>) =>
    (await (await fetch(`${emulator.apiUrl}/login/oauth/access_token`, { method: "POST", headers: { accept: "application/json", "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(params) })).json()) as Record<string, string>;
  const good = () => ({ client_id: emulator.oauthClient.clientId, redirect_uri: redirectUri, state: "s-123", code_challenge: challenge, code_challenge_method: "S256" });
  const codeFrom = (response: Response) => {
    const location = new URL(response.headers.get("location")!);
    assert.equal(location.searchParams.get("state"), "s-123", "the state comes back unchanged");
    return location.searchParams.get("code")!;
  };

  test("authorize refuses a wrong client id, a plain challenge method and an anonymous browser", async () => {
    assert.equal((await authorize({ ...good(), client_id: "Iv1.someone-else" })).status, 400);
    assert.equal((await authorize({ ...good(), code_challenge_method: "plain" })).status, 400);
    emulator.signInAs(null);
    const anonymous = await authorize(good());
    assert.equal(anonymous.status, 400);
    assert.match(await anonymous.text(), /signInAs/);
  });

  test("a code becomes a user token once, with the verifier and the client secret; /user says who it is", async () => {
    emulator.signInAs("ana");
    const first = await authorize(good());
    assert.equal(first.status, 302);
    const code = codeFrom(first);
    const secret = emulator.oauthClient.clientSecret;
    assert.equal((await exchange({ client_id: emulator.oauthClient.clientId, client_secret: "wrong", code, code_verifier: verifier })).error, "incorrect_client_credentials");
    const second = codeFrom(await authorize(good()));
    assert.equal((await exchange({ client_id: emulator.oauthClient.clientId, client_secret: secret, code: second, code_verifier: "w".repeat(43) })).error, "bad_verification_code", "a wrong verifier");
    assert.equal((await exchange({ client_id: emulator.oauthClient.clientId, client_secret: secret, code: second, code_verifier: verifier })).error, "bad_verification_code", "a code is used once");
    const third = codeFrom(await authorize(good()));
    assert.equal((await exchange({ client_id: emulator.oauthClient.clientId, client_secret: secret, code: third, code_verifier: verifier, redirect_uri: "http://elsewhere.example/cb" })).error, "redirect_uri_mismatch");
    const fourth = codeFrom(await authorize(good()));
    const token = await exchange({ client_id: emulator.oauthClient.clientId, client_secret: secret, code: fourth, code_verifier: verifier, redirect_uri: redirectUri });
    assert.match(token.access_token!, /^ghu_/);
    assert.equal(token.token_type, "bearer");

    const user = await fetch(`${emulator.apiUrl}/user`, { headers: { authorization: `Bearer ${token.access_token}` } });
    assert.equal(user.status, 200);
    assert.equal(((await user.json()) as { login: string }).login, "ana");
    assert.deepEqual(emulator.responseValidationErrors, []);
    assert.equal((await fetch(`${emulator.apiUrl}/user`)).status, 401, "no token, no user");
    assert.ok(emulator.oauthRequests.every((r) => r.params.client_secret === undefined || r.params.client_secret === "[redacted]"), "the secret is not recorded");
  });
});
