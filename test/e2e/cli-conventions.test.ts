// Issue 17's command line against a real stack: `slipway login` keeps the API URL and a
// checked token in the user's config folder; functions are named as people name them, and
// an ambiguous name lists the candidates; a refused token names the setting; `redeploy`
// and `logs` follow a build and exit 1 when it fails, with the recorded reason; `--json`
// keeps stdout one JSON document; `executions` finds the gateway by itself; `audit` reads.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const run = promisify(execFile);
const slipwayBin = fileURLToPath(new URL("../../bin/slipway.js", import.meta.url));
const owner = "conv";
// A build that fails on purpose while the BREAK_BUILD variable says so.
const yml = `functions:\n  - id: hello\n    runtime: node-20\n    root: hello\n    commands: 'if [ "$BREAK_BUILD" = yes ]; then echo breaking on purpose; exit 3; fi'\n    execute: any\n`;
const handler = (v: string) => `module.exports = async (c) => { c.log("saw " + c.req.bodyText); return c.res.text(${JSON.stringify(v)} + ":" + c.req.bodyText); };\n`;

describe("CLI conventions", { timeout: 10 * 60_000 }, () => {
  let stack: SlipwayStack;
  let token: string;
  let home: string;

  /** Runs the real binary; `env` replaces SLIPWAY_API_URL/SLIPWAY_TOKEN, which are set by default. */
  const cli = async (args: string[], options: { env?: Record<string, string>; stdin?: string; loggedOut?: boolean } = {}) => {
    const env: Record<string, string> = { PATH: process.env.PATH ?? "", XDG_CONFIG_HOME: home, DATABASE_URL: stack.env.DATABASE_URL! };
    if (!options.loggedOut) Object.assign(env, { SLIPWAY_API_URL: stack.appUrl, SLIPWAY_TOKEN: token });
    Object.assign(env, options.env);
    const child = run(process.execPath, [slipwayBin, ...args], { env });
    child.child.stdin?.end(options.stdin ?? "");
    try {
      const { stdout, stderr } = await child;
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  async function pushTo(repo: string, files: Record<string, string>) {
    const repository = await stack.emulator.createRepo({ owner, name: repo, installationId: 1717 });
    const commit = await stack.emulator.commit({ owner, repo, files, message: "first" });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo: repository, before: commit.before, after: commit.sha, message: "first" }), secret: stack.webhookSecret });
    await stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, repo).find((r) => r.head_sha === commit.sha && r.status === "completed"), { timeoutMs: 180_000, intervalMs: 200 });
  }

  before(async () => {
    home = await mkdtemp(join(tmpdir(), "slipway-cli-home-"));
    stack = await startSlipwayStack({ env: { SLIPWAY_MASTER_KEY: "cd".repeat(32) } });
    // Two repositories, each with a function `hello`.
    await pushTo("app", { "slipway.yml": yml, "hello/index.js": handler("app") });
    await pushTo("api", { "slipway.yml": yml, "hello/index.js": handler("api") });
    const created = await cli(["token", "create", "--name", "first-hour"], { loggedOut: true });
    assert.equal(created.code, 0, created.stderr);
    token = created.stdout.split("\n")[0]!;
  });

  after(async () => {
    if (stack) await stack.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  test("`slipway login` checks the token, saves it with the URL (mode 0600), and later commands use it", async () => {
    const refused = await cli(["login", "--api-url", stack.appUrl, "--with-token"], { loggedOut: true, stdin: "slw_not-a-real-token-at-all-00000000000000000000\n" });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /the token was refused by http:\/\/127\.0\.0\.1:\d+: create one with `slipway token create --name <you>`/);
    const login = await cli(["login", "--api-url", stack.appUrl, "--with-token"], { loggedOut: true, stdin: `${token}\n` });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Logged in to Slipway \d+\.\d+\.\d+ at http:\/\/127\.0\.0\.1:\d+ as first-hour/);
    const path = join(home, "slipway", "config.json");
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(await readFile(path, "utf8")), { apiUrl: stack.appUrl, token });
    const listed = await cli(["functions", "ls", "--json"], { loggedOut: true });
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal((JSON.parse(listed.stdout) as { functions: unknown[] }).functions.length, 2);
    const out = await cli(["logout"], { loggedOut: true });
    assert.equal(out.code, 0, out.stderr);
    const after = await cli(["functions", "ls"], { loggedOut: true });
    assert.equal(after.code, 1);
    assert.match(after.stderr, /no API token: run `slipway login` or set SLIPWAY_TOKEN/);
  });

  test("a refused token and a server that is not Slipway's API name the setting to fix", async () => {
    const refused = await cli(["functions", "ls"], { env: { SLIPWAY_TOKEN: "slw_not-a-real-token-at-all-00000000000000000000" } });
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, "slipway: the token was refused (SLIPWAY_TOKEN): create one with `slipway token create --name <you>` on the Slipway host and save it with `slipway login`\n");
    const wrongServer = await cli(["functions", "ls"], { env: { SLIPWAY_API_URL: `${stack.gatewayUrl}/nothing-here` } });
    assert.equal(wrongServer.code, 1);
    assert.match(wrongServer.stderr, /the Slipway API at SLIPWAY_API_URL=http:\/\/127\.0\.0\.1:\d+\/nothing-here answered HTTP 404 with something other than Slipway's API/);
  });

  test("functions are named by id, repo/id, owner/repo/id or slug; an ambiguous id lists the candidates (exit 2)", async () => {
    const ambiguous = await cli(["audit", "hello"]);
    assert.equal(ambiguous.code, 2);
    assert.equal(ambiguous.stderr, "slipway: 'hello' names 2 functions; say which with owner/repo/id:\n  conv/api/hello\n  conv/app/hello\n");
    const functions = (JSON.parse((await cli(["functions", "--json"])).stdout) as { functions: { id: string; slug: string; repo: string }[] }).functions;
    const app = functions.find((f) => f.repo === "app")!;
    for (const name of ["app/hello", "conv/app/hello", app.slug, app.id]) {
      const listed = await cli(["deployments", "ls", "--function", name, "--json"]);
      assert.equal(listed.code, 0, `${name}: ${listed.stderr}`);
      const rows = (JSON.parse(listed.stdout) as { deployments: { functionId: string }[] }).deployments;
      assert.ok(rows.length > 0 && rows.every((d) => d.functionId === app.id), name);
    }
    const missing = await cli(["promote", "conv/app/nope"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no function 'conv\/app\/nope'; name one by id, repo\/id, owner\/repo\/id, slug or UUID:\n {2}conv\/api\/hello\n {2}conv\/app\/hello/);
  });

  test("redeploy follows a failing build and exits 1 with its reason; logs of it prints the reason; --json keeps stdout JSON", async () => {
    const set = await cli(["variables", "set", `${owner}/app`, "BREAK_BUILD"], { stdin: "yes\n" });
    assert.equal(set.code, 0, set.stderr);
    const failed = await cli(["redeploy", "app/hello"]);
    assert.equal(failed.code, 1, failed.stdout);
    assert.match(failed.stdout, /Redeploying hello as v2[\s\S]*breaking on purpose/, "the build log is followed");
    assert.match(failed.stderr, /^slipway: v2 failed: the build command exited with code 3/m);

    const logs = await cli(["logs", "conv/app/hello"]);
    assert.equal(logs.code, 1, "logs of a failed build exits 1");
    assert.match(logs.stdout, /breaking on purpose/);
    assert.match(logs.stderr, /^slipway: v2 failed: the build command exited with code 3/m);
    const logsJson = await cli(["logs", "app/hello", "--json"]);
    assert.equal(logsJson.code, 1);
    assert.equal((JSON.parse(logsJson.stdout) as { status: string; version: number }).status, "failed");
    assert.match(logsJson.stderr, /breaking on purpose/, "under --json the log goes to stderr");

    assert.equal((await cli(["variables", "rm", `${owner}/app`, "BREAK_BUILD"])).code, 0);
    const fixed = await cli(["redeploy", "app/hello", "--json"]);
    assert.equal(fixed.code, 0, fixed.stderr);
    const summary = JSON.parse(fixed.stdout) as { status: string; version: number };
    assert.deepEqual([summary.status, summary.version], ["ready", 3]);
    assert.match(fixed.stderr, /Redeploying hello as v3/, "progress goes to stderr");
  });

  test("executions run, ls and show reach the gateway by themselves", async () => {
    const ran = await cli(["executions", "run", "api/hello", "--body", "ping"]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, "api:ping\n");
    const id = /execution ([0-9a-f-]{36}): completed, HTTP 200/.exec(ran.stderr)?.[1];
    assert.ok(id, ran.stderr);
    const listed = await cli(["executions", "ls", "api/hello", "--json"]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok((JSON.parse(listed.stdout) as { executions: { id: string }[] }).executions.some((e) => e.id === id));
    const shown = await cli(["executions", "show", id!]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /completed, HTTP 200[\s\S]*conv\/api\/hello[\s\S]*--- logs ---\nsaw ping[\s\S]*--- response body ---\napi:ping/);
    const queued = await cli(["executions", "run", "api/hello", "--async", "--json"]);
    assert.equal(queued.code, 0, queued.stderr);
    assert.equal((JSON.parse(queued.stdout) as { status: string }).status, "waiting");
  });

  test("audit lists who changed what serves, with versions", async () => {
    const audit = await cli(["audit", "app/hello"]);
    assert.equal(audit.code, 0, audit.stderr);
    assert.match(audit.stdout, /when\s+action\s+actor\s+via\s+from\s+to\n.*activate\s+\S+\s+\S+\s+v1\s+v3\n.*activate\s+\S+\s+\S+\s+–\s+v1\n/);
    const json = await cli(["audit", "app/hello", "--json"]);
    assert.ok((JSON.parse(json.stdout) as { entries: unknown[] }).entries.length >= 2);
  });
});
