// Owns set-up mode: with no GitHub App credentials, the app's port serves one page that
// registers the app through GitHub's manifest flow. The browser posts the manifest to
// GitHub (/settings/apps/new, or an organisation's), GitHub sends it back to
// /setup/callback with a one-time code, and the code is exchanged for the app's
// credentials, which are written to .env and a private key file (both mode 0600). The
// returned `registered` promise then gives the credentials, so Slipway goes on into normal
// mode in the same process.
//
// Until then anyone who reaches the port could bind this Slipway to a GitHub App of their
// own, so the page asks for a one-time key that only the operator sees (printed in
// Slipway's output, like a first-run admin password). The key becomes an HttpOnly cookie,
// which the callback needs too, along with the `state` it sent GitHub.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { dirname, join } from "node:path";
import { writeFile, chmod } from "node:fs/promises";
import type { Logger } from "pino";
import { listenServer } from "../app/listen-server.js";
import { buildAppManifest, type AppManifest } from "./build-app-manifest.js";
import { convertManifestCode } from "./convert-manifest-code.js";
import type { GithubUrls } from "./github-urls.js";
import { writeEnvFile } from "./write-env-file.js";

export type SetupOptions = {
  port: number;
  host: string;
  /** Where people reach this Slipway (SLIPWAY_APP_URL). */
  appUrl: string;
  github: GithubUrls;
  /** Register the app for an organisation instead of the signed-in user (GITHUB_ORG). */
  organization?: string | undefined;
  webhookProxyUrl?: string | undefined;
  appName?: string | undefined;
  /** The .env file the credentials are written to (SLIPWAY_ENV_FILE, default ./.env). */
  envFile: string;
  log: Logger;
};

export type SetupServer = {
  /** The page with its one-time key: the link to show the operator. */
  url: string;
  manifest: AppManifest;
  /** The settings written to .env, once the app is registered. */
  registered: Promise<Record<string, string>>;
  close(): Promise<void>;
};

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#1f2328}
button{font:inherit;padding:.6rem 1.2rem;border-radius:6px;border:0;background:#1f883d;color:#fff;cursor:pointer}
.warn{background:#fff8c5;border:1px solid #d4a72c;padding:.8rem;border-radius:6px}code{background:#f6f8fa;padding:.1rem .3rem;border-radius:4px}</style>
</head><body>${body}</body></html>`;
}

/** True for an address GitHub on the internet cannot reach. */
function isLocalAddress(url: string): boolean {
  const host = new URL(url).hostname;
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\./.test(host) || /^10\./.test(host) || /^192\.168\./.test(host) || /^172\.(1[6-9]|2\d|3[01])\./.test(host) || host.endsWith(".local");
}

export async function startSetupServer(options: SetupOptions): Promise<SetupServer> {
  const manifest = buildAppManifest({ appUrl: options.appUrl, webhookProxyUrl: options.webhookProxyUrl, name: options.appName });
  const state = randomBytes(16).toString("hex");
  const key = randomBytes(16).toString("hex");
  const cookieName = "slipway_setup_key";
  const sameSecret = (given: string | null | undefined, expected: string) => {
    const bytes = Buffer.from(given ?? "");
    return bytes.length === expected.length && timingSafeEqual(bytes, Buffer.from(expected));
  };
  const cookieKey = (req: IncomingMessage) =>
    (req.headers.cookie ?? "")
      .split(";")
      .map((part) => part.trim().split("="))
      .find(([name]) => name === cookieName)?.[1];
  const formAction = `${options.github.webUrl}${options.organization ? `/organizations/${encodeURIComponent(options.organization)}` : ""}/settings/apps/new?state=${state}`;
  let settle!: (values: Record<string, string>) => void;
  const registered = new Promise<Record<string, string>>((resolve) => (settle = resolve));
  let converting = false;
  let done = false;

  const registerPage = () => {
    const unreachable = !options.webhookProxyUrl && isLocalAddress(manifest.hook_attributes.url);
    return page(
      "Set up Slipway",
      `<h1>Set up Slipway</h1>
<p>Slipway needs a GitHub App to receive pushes and report check runs. This registers one on
<code>${escapeHtml(options.github.webUrl)}</code>${options.organization ? ` for the organisation <code>${escapeHtml(options.organization)}</code>` : " for your account"} with the permissions in <code>app.yml</code>.</p>
<p>GitHub will send webhooks to <code>${escapeHtml(manifest.hook_attributes.url)}</code>.</p>
${
  unreachable
    ? `<p class="warn">GitHub cannot reach that address from the internet. For local work, open <a href="https://smee.io/new">smee.io/new</a>,
set <code>WEBHOOK_PROXY_URL</code> to the channel's URL in <code>.env</code> and restart <code>scripts/start.sh</code>; Slipway then relays
the channel's webhooks to itself. On a server, set <code>SLIPWAY_APP_URL</code> to its public address instead.</p>`
    : ""
}
<form action="${escapeHtml(formAction)}" method="post">
<input type="hidden" name="manifest" value="${escapeHtml(JSON.stringify(manifest))}">
<button type="submit">Register GitHub App</button>
</form>
<p>After GitHub creates the app, Slipway writes its credentials to <code>${escapeHtml(options.envFile)}</code> and starts.</p>`,
    );
  };

  const callback = async (req: IncomingMessage, url: URL, res: ServerResponse) => {
    const code = url.searchParams.get("code") ?? "";
    if (!code || !sameSecret(url.searchParams.get("state"), state) || !sameSecret(cookieKey(req), key)) {
      res.writeHead(400, { "content-type": "text/html; charset=utf-8" }).end(page("Set up Slipway", `<h1>That link is not from this set-up</h1><p>Start again from the set-up link in Slipway's output, in this browser.</p>`));
      return;
    }
    if (converting || done) {
      res.writeHead(409, { "content-type": "text/html; charset=utf-8" }).end(page("Set up Slipway", `<h1>The app is already being registered</h1>`));
      return;
    }
    converting = true;
    try {
      const app = await convertManifestCode(options.github.apiUrl, code);
      const keyDir = join(dirname(options.envFile), ".slipway");
      await mkdir(keyDir, { recursive: true, mode: 0o700 });
      const keyPath = join(keyDir, `${app.slug}.private-key.pem`);
      await writeFile(keyPath, app.pem, { mode: 0o600 });
      await chmod(keyPath, 0o600);
      const values: Record<string, string> = {
        APP_ID: String(app.id),
        PRIVATE_KEY_PATH: keyPath,
        WEBHOOK_SECRET: app.webhook_secret ?? "",
        GITHUB_CLIENT_ID: app.client_id,
        GITHUB_CLIENT_SECRET: app.client_secret,
        ...(options.github.webUrl !== "https://github.com" ? { GITHUB_URL: options.github.webUrl, GITHUB_API_URL: options.github.apiUrl } : {}),
        ...(options.webhookProxyUrl ? { WEBHOOK_PROXY_URL: options.webhookProxyUrl } : {}),
      };
      await writeEnvFile(options.envFile, values);
      done = true;
      options.log.info({ appId: app.id, slug: app.slug, envFile: options.envFile }, "GitHub App registered; credentials written");
      const install = `${app.html_url}/installations/new`;
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(
        page(
          "Slipway is set up",
          `<h1>${escapeHtml(app.name)} is registered</h1>
<p>Its credentials are in <code>${escapeHtml(options.envFile)}</code> and its private key in <code>${escapeHtml(keyPath)}</code> (both readable by you only). Slipway is starting now.</p>
<p><b>Next:</b> <a href="${escapeHtml(install)}">install the app</a> on the repositories to deploy from, then push a <code>slipway.yml</code>.
The <a href="/dashboard">dashboard</a> shows the builds.</p>`,
        ),
      );
      settle(values);
    } catch (error) {
      converting = false;
      const message = error instanceof Error ? error.message : String(error);
      options.log.warn({ reason: message }, "GitHub App registration failed");
      res.writeHead(502, { "content-type": "text/html; charset=utf-8" }).end(page("Set up Slipway", `<h1>Registration failed</h1><p>${escapeHtml(message)}</p><p><a href="/setup">Try again</a>.</p>`));
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://setup.invalid");
    if (url.pathname === "/healthz") return void res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    if (url.pathname === "/readyz") return void res.writeHead(503, { "content-type": "application/json" }).end('{"ready":false,"setup":true,"reason":"the GitHub App is not registered yet"}');
    if (req.method === "GET" && url.pathname === "/setup/callback") return void callback(req, url, res);
    if (req.method === "GET" && url.pathname === "/setup/manifest.json") return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(manifest));
    if (req.method === "GET" && url.pathname === "/setup") {
      const given = url.searchParams.get("key");
      if (!sameSecret(given, key) && !sameSecret(cookieKey(req), key)) {
        res.writeHead(403, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(
          page("Set up Slipway", `<h1>Open the set-up link from Slipway's output</h1><p>Slipway printed a link with a one-time key when it started in set-up mode (<code>open …/setup?key=…</code>); only that link registers the GitHub App.</p>`),
        );
        return;
      }
      // Lax: the cookie comes back on GitHub's redirect to the callback, a top-level GET.
      res.writeHead(200, {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        "referrer-policy": "no-referrer",
        "set-cookie": `${cookieName}=${key}; Path=/setup; HttpOnly; SameSite=Lax; Max-Age=3600`,
      });
      res.end(registerPage());
      return;
    }
    if (req.method === "GET" || req.method === "HEAD") return void res.writeHead(302, { location: "/setup" }).end();
    res.writeHead(503, { "content-type": "application/json" }).end('{"error":"Slipway is in set-up mode: register the GitHub App at /setup first"}');
  };

  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (error) {
      res.writeHead(400, { "content-type": "text/plain" }).end(error instanceof Error ? error.message : String(error));
    }
  });
  await listenServer(server, { port: options.port, host: options.host, setting: "SLIPWAY_APP_PORT" });
  return {
    url: `${options.appUrl}/setup?key=${key}`,
    manifest,
    registered,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
