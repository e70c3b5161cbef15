// Issue 17's guided set-up, as a new user meets it: Slipway started with no GitHub App
// credentials serves a "Register GitHub App" page; the browser (this test) posts its manifest
// to the emulator's /settings/apps/new, follows GitHub's redirect back with the one-time
// code, Slipway exchanges it (POST /app-manifests/{code}/conversions), writes .env and the
// private key (mode 0600) and goes on, in the same process, into normal mode, which answers
// a signed webhook sent directly and one relayed from a smee-style WEBHOOK_PROXY_URL channel.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { JSDOM } from "jsdom";
import { deliverWebhook } from "../emulator/deliver-webhook.js";
import { pushPayload } from "../emulator/push-payload.js";
import { signWebhook } from "../emulator/sign-webhook.js";
import { startGitHubEmulator, type GitHubEmulator } from "../emulator/start-github-emulator.js";
import { createTestDatabase } from "../support/create-test-database.js";
import { freePort } from "../support/start-slipway-stack.js";

const slipwayBin = fileURLToPath(new URL("../../bin/slipway.js", import.meta.url));
const appYml = fileURLToPath(new URL("../../app.yml", import.meta.url));

/** A channel server speaking smee.io's protocol: an SSE stream of JSON messages, each a delivery's headers plus body and query. */
async function startSmeeChannel() {
  const listeners: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || req.url !== "/channel-1") return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    res.write(`event: ready\ndata: ${JSON.stringify({ ready: true })}\n\n`);
    listeners.push(res);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}/channel-1`,
    listeners,
    send(headers: Record<string, string>, body: unknown) {
      const message = JSON.stringify({ ...headers, body, query: {}, timestamp: Date.now() });
      for (const res of listeners) res.write(`data: ${message}\n\n`);
    },
    close: () => new Promise<void>((resolve) => {
      for (const res of listeners) res.end();
      server.close(() => resolve());
    }),
  };
}

describe("guided set-up", { timeout: 5 * 60_000 }, () => {
  let emulator: GitHubEmulator;
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let channel: Awaited<ReturnType<typeof startSmeeChannel>>;
  let folder: string;
  let child: ChildProcess | undefined;
  let output = "";

  before(async () => {
    // The emulator starts with an app of its own; the manifest flow replaces it.
    const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048, publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } });
    emulator = await startGitHubEmulator({ appId: 1, publicKey });
    database = await createTestDatabase({ migrate: false });
    channel = await startSmeeChannel();
    folder = await mkdtemp(join(tmpdir(), "slipway-setup-"));
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
    await channel?.close();
    await emulator?.stop();
    await database?.drop();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}:\n${output}`);
      if (child?.exitCode !== null && child?.exitCode !== undefined) throw new Error(`slipway exited (${child.exitCode}) while waiting for ${what}:\n${output}`);
      const value = await probe().catch(() => undefined);
      if (value !== undefined) return value;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  test("registers the app from the page, writes .env and serves webhooks without a restart", async () => {
    const port = await freePort();
    const appUrl = `http://127.0.0.1:${port}`;
    const envFile = join(folder, ".env");
    await writeFile(envFile, "# kept as it was\nLOG_LEVEL=info\n", { mode: 0o644 });
    child = spawn(process.execPath, [slipwayBin, "app"], {
      cwd: folder,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "/root",
        DATABASE_URL: database.url,
        REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
        SLIPWAY_QUEUE_PREFIX: `setup-flow-${process.pid}`,
        SLIPWAY_GATEWAY_SECRET: "g".repeat(32),
        SLIPWAY_HOST: "127.0.0.1",
        SLIPWAY_APP_PORT: String(port),
        SLIPWAY_APP_URL: appUrl,
        SLIPWAY_METRICS_PORT: "0",
        SLIPWAY_ENV_FILE: envFile,
        // The emulator serves GitHub's web pages and its API on one address.
        GITHUB_URL: emulator.apiUrl,
        GITHUB_API_URL: emulator.apiUrl,
        WEBHOOK_PROXY_URL: channel.url,
      },
    });
    child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));

    // Set-up mode: every page leads to the registration page.
    const first = await waitFor("set-up mode", async () => {
      const response = await fetch(`${appUrl}/`, { redirect: "manual" });
      return response.status === 302 ? response : undefined;
    });
    assert.equal(first.headers.get("location"), "/setup");
    assert.equal((await fetch(`${appUrl}/readyz`)).status, 503);
    // Only the link printed for the operator, with its one-time key, registers an app.
    assert.equal((await fetch(`${appUrl}/setup`)).status, 403);
    assert.equal((await fetch(`${appUrl}/setup?key=${"0".repeat(32)}`)).status, 403);
    const link = await waitFor("the set-up link", async () => /open (http:\/\/127\.0\.0\.1:\d+\/setup\?key=[0-9a-f]{32})/.exec(output)?.[1]);
    assert.ok(!output.split("\n").some((line) => line.startsWith("{") && line.includes("key=")), "the key is not in the JSON log");

    const opened = await fetch(link);
    assert.equal(opened.status, 200);
    const cookie = opened.headers.get("set-cookie")!.split(";")[0]!;
    const html = await opened.text();
    const form = new JSDOM(html).window.document.querySelector("form")!;
    assert.equal(form.querySelector("button")?.textContent, "Register GitHub App");
    const action = new URL(form.getAttribute("action")!);
    assert.equal(`${action.origin}${action.pathname}`, `${emulator.apiUrl}/settings/apps/new`);
    const manifestText = (form.querySelector("input[name=manifest]") as unknown as { value: string }).value;
    const manifest = JSON.parse(manifestText) as Record<string, unknown> & { hook_attributes: { url: string }; default_permissions: Record<string, string> };
    // app.yml's permissions and events, with the addresses only this Slipway knows.
    const declared = parseYaml(await readFile(appYml, "utf8")) as { default_permissions: Record<string, string>; default_events: string[] };
    assert.deepEqual(manifest.default_permissions, declared.default_permissions);
    assert.deepEqual(manifest.default_events, declared.default_events);
    assert.equal(manifest.hook_attributes.url, channel.url);
    assert.equal(manifest.redirect_url, `${appUrl}/setup/callback`);

    // The browser posts the form; GitHub sends it back with a one-time code.
    const posted = await fetch(action, { method: "POST", body: new URLSearchParams({ manifest: manifestText }), redirect: "manual" });
    assert.equal(posted.status, 302, `${await posted.clone().text()} ${emulator.manifestFormErrors.join("; ")}`);
    const back = new URL(posted.headers.get("location")!);
    assert.equal(`${back.origin}${back.pathname}`, `${appUrl}/setup/callback`);

    // A callback with another state, or from a browser without the key's cookie, is refused and spends no code.
    const forged = new URL(back);
    forged.searchParams.set("state", "0".repeat(32));
    assert.equal((await fetch(forged, { headers: { cookie } })).status, 400);
    assert.equal((await fetch(back)).status, 400);

    const done = await fetch(back, { headers: { cookie } });
    const donePage = await done.text();
    assert.equal(done.status, 200, donePage);
    const registered = emulator.registeredApps.at(-1)!;
    assert.ok(registered, "the emulator registered an app");
    assert.match(donePage, new RegExp(`${registered.slug}/installations/new`));
    const conversions = emulator.requests.filter((r) => r.operationId === "apps/create-from-manifest");
    assert.deepEqual(conversions.map((r) => r.status), [201]);
    assert.deepEqual(emulator.validationErrors, []);
    assert.deepEqual(emulator.responseValidationErrors, []);

    // .env keeps its lines and gains the app's credentials; both files are the owner's only.
    const env = await readFile(envFile, "utf8");
    assert.equal((await stat(envFile)).mode & 0o777, 0o600);
    assert.match(env, /^# kept as it was\nLOG_LEVEL=info\n/);
    const values = Object.fromEntries(env.split("\n").filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    assert.equal(values.APP_ID, String(registered.id));
    assert.equal(values.WEBHOOK_SECRET, registered.webhookSecret);
    assert.equal(values.WEBHOOK_PROXY_URL, channel.url);
    assert.match(values.GITHUB_CLIENT_ID ?? "", /^Iv1\./);
    assert.ok(values.GITHUB_CLIENT_SECRET);
    const keyPath = values.PRIVATE_KEY_PATH!;
    assert.equal(await readFile(keyPath, "utf8"), registered.pem);
    assert.equal((await stat(keyPath)).mode & 0o777, 0o600);
    assert.ok(!output.includes(registered.webhookSecret) && !output.includes("PRIVATE KEY"), "no secret in the output");

    // Normal mode, in the same process: the dashboard answers instead of the set-up page.
    await waitFor("normal mode", async () => ((await fetch(`${appUrl}/dashboard`, { redirect: "manual" })).status === 200 ? true : undefined));
    const repo = await emulator.createRepo({ owner: "octo-org", name: "first", installationId: 5151 });
    const commit = await emulator.commit({ owner: "octo-org", repo: "first", files: { "README.md": "hi\n" }, message: "first" });
    const payload = pushPayload({ repo, before: commit.before, after: commit.sha });
    const unsigned = await deliverWebhook({ url: `${appUrl}/api/github/webhooks`, event: "push", payload, secret: "not-the-secret" });
    assert.equal(unsigned.status, 401);
    const direct = await deliverWebhook({ url: `${appUrl}/api/github/webhooks`, event: "push", payload, secret: registered.webhookSecret });
    assert.equal(direct.status, 202, direct.body);

    // The app handles it as the registered app: a JWT signed with the new key buys a token.
    await waitFor("the push handled", async () => {
      const row = (await database.db.query<{ status: string }>("select status from webhook_deliveries where id = $1", [direct.deliveryId])).rows[0];
      return row && row.status !== "received" ? row.status : undefined;
    }).then((status) => assert.equal(status, "processed"));
    assert.ok(emulator.tokensIssued.some((t) => t.installationId === 5151), "an installation token was issued to the registered app");

    // Relayed from the channel: smee's message is the delivery's headers plus its body.
    await waitFor("the relay connected", async () => (channel.listeners.length > 0 ? true : undefined));
    const relayedId = `relayed-${randomBytes(6).toString("hex")}`;
    channel.send(
      { "x-github-event": "push", "x-github-delivery": relayedId, "x-hub-signature-256": signWebhook(JSON.stringify(payload), registered.webhookSecret), "user-agent": "GitHub-Hookshot/relay" },
      payload,
    );
    await waitFor("the relayed delivery stored", async () => ((await database.db.query("select 1 from webhook_deliveries where id = $1", [relayedId])).rowCount === 1 ? true : undefined));
  });
});
