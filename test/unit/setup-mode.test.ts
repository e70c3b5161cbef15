// The pure parts of set-up mode: when it applies, the manifest built from app.yml, GitHub's
// URLs for github.com and GitHub Enterprise Server, the .env writer (whose file bash must
// read back as written: scripts/start.sh sources it), and the banner's next step.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { test } from "node:test";
import { buildAppManifest } from "../../src/setup/build-app-manifest.js";
import { githubUrls } from "../../src/setup/github-urls.js";
import { needsSetup } from "../../src/setup/needs-setup.js";
import { writeEnvFile } from "../../src/setup/write-env-file.js";
import { nextStep } from "../../src/logging/next-step.js";
import { manifestProblems } from "../emulator/manifest-problems.js";

const run = promisify(execFile);

test("set-up mode only when no credential at all is set", () => {
  assert.equal(needsSetup({}), true);
  assert.equal(needsSetup({ APP_ID: "", PRIVATE_KEY_PATH: " ", WEBHOOK_SECRET: "" }), true);
  assert.equal(needsSetup({ APP_ID: "12" }), false, "a half-filled .env is reported, not replaced by a second app");
  assert.equal(needsSetup({ PRIVATE_KEY_PATH: "/k.pem" }), false);
});

test("the manifest is app.yml with this Slipway's addresses, and GitHub would take it", () => {
  const manifest = buildAppManifest({ appUrl: "https://slipway.acme.dev" });
  assert.equal(manifest.hook_attributes.url, "https://slipway.acme.dev/api/github/webhooks");
  assert.equal(manifest.redirect_url, "https://slipway.acme.dev/setup/callback");
  assert.equal(manifest.url, "https://slipway.acme.dev");
  assert.equal(manifest.public, false);
  assert.deepEqual(manifestProblems(manifest), []);
  const relayed = buildAppManifest({ appUrl: "http://127.0.0.1:3000", webhookProxyUrl: "https://smee.io/abc", name: "Slipway (ana's laptop)" });
  assert.equal(relayed.hook_attributes.url, "https://smee.io/abc");
  assert.equal(relayed.name, "Slipway (ana's laptop)");
  // app.yml asks for no write it does not use: issues are read (plain-issue comments are ignored).
  assert.equal(manifest.default_permissions.issues, "read");
  assert.ok(!("statuses" in manifest.default_permissions));
});

test("GitHub's addresses: github.com, GitHub Enterprise Server, or an explicit API", () => {
  assert.deepEqual(githubUrls({}), { webUrl: "https://github.com", apiUrl: "https://api.github.com" });
  assert.deepEqual(githubUrls({ GITHUB_URL: "https://ghe.corp.example/" }), { webUrl: "https://ghe.corp.example", apiUrl: "https://ghe.corp.example/api/v3" });
  assert.deepEqual(githubUrls({ GITHUB_URL: "http://127.0.0.1:9", GITHUB_API_URL: "http://127.0.0.1:9" }), { webUrl: "http://127.0.0.1:9", apiUrl: "http://127.0.0.1:9" });
});

test(".env is updated in place, mode 0600, and bash reads back every value as written", async () => {
  const folder = await mkdtemp(join(tmpdir(), "slipway-env-"));
  try {
    const file = join(folder, ".env");
    await writeFile(file, "# mine\nAPP_ID=\nLOG_LEVEL=debug\n", { mode: 0o644 });
    const tricky = `a "quoted" $HOME \`tick\` back\\slash 'single' #hash`;
    await writeEnvFile(file, { APP_ID: "4242", WEBHOOK_SECRET: tricky, PRIVATE_KEY_PATH: "/srv/slipway/.slipway/app.private-key.pem" });
    const text = await readFile(file, "utf8");
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.match(text, /^# mine\nAPP_ID=4242\nLOG_LEVEL=debug\n/);
    const { stdout } = await run("bash", ["-c", `set -a; . "${file}"; set +a; printf '%s\\n%s\\n%s' "$APP_ID" "$WEBHOOK_SECRET" "$PRIVATE_KEY_PATH"`], { env: { PATH: process.env.PATH, HOME: "/nowhere" } });
    assert.equal(stdout, `4242\n${tricky}\n/srv/slipway/.slipway/app.private-key.pem`);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});

test("the banner's next step follows the installation's progress", () => {
  assert.match(nextStep({ tokens: 0, repositories: 0, deployments: 0 }, "http://h:3000"), /^create an API token: `slipway token create --name <you>`, then `slipway login --api-url http:\/\/h:3000`/);
  assert.match(nextStep({ tokens: 1, repositories: 0, deployments: 0 }, "http://h:3000"), /^install the GitHub App/);
  assert.match(nextStep({ tokens: 1, repositories: 1, deployments: 0 }, "http://h:3000"), /^push a slipway\.yml/);
  assert.match(nextStep({ tokens: 1, repositories: 1, deployments: 3 }, "http://h:3000"), /^push to deploy/);
});
