// scripts/walk-first-hour.ts: the README's "Quick start" walked as a new user would, against the GitHub
// emulator, timed step by step: Slipway started with no GitHub App (set-up mode, `all` in one
// process, as scripts/start.sh runs it), the app registered from its page (the browser's
// form post, GitHub's redirect, the code's conversion, .env written), normal mode without a
// restart, the app installed, a token created and saved with `slipway login`, the first
// push live at its URL, a second push, and the first rollback with `slipway rollback`.
// Prints each step, who does it (you or Slipway), and its seconds.
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { generateKeyPairSync } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { JSDOM } from "jsdom";
import { deliverWebhook, pushPayload } from "../test/emulator/webhooks.js";
import { startGitHubEmulator } from "../test/emulator/start-github-emulator.js";
import { createTestDatabase } from "../test/support/create-test-database.js";
import { freePort } from "../test/support/start-slipway-stack.js";

const run = promisify(execFile);
const slipwayBin = fileURLToPath(new URL("../bin/slipway.js", import.meta.url));
const owner = "newcomer";
const repoName = "first-functions";
const yml = "functions:\n  - id: hello\n    runtime: node-20\n    root: functions/hello\n    execute: any\n";
const handler = (v: string) => `module.exports = async ({ res }) => res.json({ hello: ${JSON.stringify(v)} });\n`;

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 5 * 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main() {
  const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048, publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } });
  const emulator = await startGitHubEmulator({ appId: 1, publicKey });
  const database = await createTestDatabase({ migrate: false });
  const folder = await mkdtemp(join(tmpdir(), "slipway-first-hour-"));
  const appPort = await freePort();
  const gatewayPort = await freePort();
  const appUrl = `http://127.0.0.1:${appPort}`;
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const envFile = join(folder, ".env");
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: folder,
    XDG_CONFIG_HOME: join(folder, "config"),
    DATABASE_URL: database.url,
    REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
    SLIPWAY_QUEUE_PREFIX: `first-hour-${process.pid}`,
    SLIPWAY_GATEWAY_SECRET: "first-hour-gateway-secret",
    SLIPWAY_HOST: "127.0.0.1",
    SLIPWAY_APP_PORT: String(appPort),
    SLIPWAY_GATEWAY_PORT: String(gatewayPort),
    SLIPWAY_GATEWAY_URL: gatewayUrl,
    SLIPWAY_METRICS_PORT: "0",
    SLIPWAY_ARTIFACT_DIR: join(folder, "artifacts"),
    SLIPWAY_NGINX_DIR: join(folder, "nginx"),
    SLIPWAY_ENV_FILE: envFile,
    SLIPWAY_LOG_FORMAT: "json",
    GITHUB_URL: emulator.apiUrl,
    GITHUB_API_URL: emulator.apiUrl,
    ...(process.env.SSL_CERT_FILE ? { SLIPWAY_BUILD_CA_BUNDLE: process.env.SSL_CERT_FILE } : {}),
  };
  const steps: { step: string; by: "you" | "Slipway"; seconds: number }[] = [];
  const timed = async <T>(step: string, by: "you" | "Slipway", work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await work();
    steps.push({ step, by, seconds: (performance.now() - started) / 1000 });
    return result;
  };
  const cli = (args: string[], input?: string) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [slipwayBin, ...args], { env: { ...env, SLIPWAY_API_URL: undefined } as NodeJS.ProcessEnv, stdio: ["pipe", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (c: Buffer) => (out += c.toString()));
      child.stderr.on("data", (c: Buffer) => (err += c.toString()));
      child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`slipway ${args.join(" ")} exited ${code}: ${err}`))));
      child.stdin.end(input ?? "");
    });

  let output = "";
  const slipway = spawn(process.execPath, [slipwayBin, "all"], { env, cwd: folder, stdio: ["ignore", "pipe", "pipe"] });
  slipway.stdout.on("data", (c: Buffer) => (output += c.toString()));
  slipway.stderr.on("data", (c: Buffer) => (output += c.toString()));
  const started = performance.now();
  try {
    const link = await timed("start Slipway (set-up mode)", "you", () => until("the set-up link", async () => /open (http:\S+\/setup\?key=[0-9a-f]+)/.exec(output)?.[1]));
    const secret = await timed("register the GitHub App from the page", "you", async () => {
      const opened = await fetch(link);
      const cookie = opened.headers.get("set-cookie")!.split(";")[0]!;
      const document = new JSDOM(await opened.text()).window.document;
      const form = document.querySelector("form")!;
      const manifest = (form.querySelector("input[name=manifest]") as unknown as { value: string }).value;
      const posted = await fetch(form.getAttribute("action")!, { method: "POST", body: new URLSearchParams({ manifest }), redirect: "manual" });
      const back = await fetch(posted.headers.get("location")!, { headers: { cookie } });
      if (!back.ok) throw new Error(`registration failed: ${await back.text()}`);
      return /^WEBHOOK_SECRET=(.+)$/m.exec(await readFile(envFile, "utf8"))![1]!;
    });
    await timed("Slipway continues into normal mode", "Slipway", () => until("/readyz", async () => (await fetch(`${appUrl}/readyz`)).ok));
    const repo = await timed("install the app on a repository", "you", () => emulator.createRepo({ owner, name: repoName, installationId: 4711 }));
    await timed("create a token and log in", "you", async () => {
      const token = (await cli(["token", "create", "--name", "me"])).split("\n")[0]!;
      await cli(["login", "--api-url", appUrl, "--with-token"], token);
    });
    const push = async (files: Record<string, string>, message: string) => {
      const commit = await emulator.commit({ owner, repo: repoName, files, message });
      const sent = await deliverWebhook({ url: `${appUrl}/api/github/webhooks`, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message }), secret });
      if (sent.status !== 202) throw new Error(`push answered ${sent.status}`);
      const run = await until("the check run", async () => emulator.checkRuns(owner, repoName).find((r) => r.head_sha === commit.sha && r.status === "completed"));
      if (run.conclusion !== "success") throw new Error(`the build failed: ${run.output?.summary}`);
    };
    const served = async () => (await (await fetch(`${gatewayUrl}/fn/hello~${repoName}~${owner}/`)).json()) as { hello: string };
    await timed("first push: slipway.yml + a function, live at its URL", "you", async () => {
      await push({ "slipway.yml": yml, "functions/hello/index.js": handler("v1"), "functions/hello/package.json": '{"name":"hello","version":"1.0.0"}' }, "first function");
      await until("v1 served", async () => (await served()).hello === "v1");
    });
    await timed("second push, live", "you", async () => {
      await push({ "functions/hello/index.js": handler("v2") }, "second version");
      await until("v2 served", async () => (await served()).hello === "v2");
    });
    await timed("first rollback: `slipway rollback hello`", "you", async () => {
      await cli(["rollback", "hello"]);
      await until("v1 served again", async () => (await served()).hello === "v1");
    });
  } catch (error) {
    process.stderr.write(`${output.slice(-4000)}\n`);
    throw error;
  } finally {
    slipway.kill("SIGTERM");
    await new Promise((r) => slipway.once("exit", r));
    await emulator.stop();
    await database.drop();
    await rm(folder, { recursive: true, force: true });
  }
  const total = (performance.now() - started) / 1000;
  const width = Math.max(...steps.map((s) => s.step.length));
  console.log("first hour, as the README walks it (against the GitHub emulator):");
  steps.forEach((s, i) => console.log(`${String(i + 1).padStart(2)}. ${s.step.padEnd(width)}  ${s.by.padEnd(7)}  ${s.seconds.toFixed(2).padStart(7)} s`));
  console.log(`${steps.filter((s) => s.by === "you").length} steps by you, ${steps.length} in all, ${total.toFixed(1)} s from start to the first rollback`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
