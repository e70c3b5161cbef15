// Issue 5's API and CLI, end to end: the `slipway` command line (a real child process)
// lists, rolls back, promotes and follows logs through the REST API, authenticated with an
// API token it created; the API refuses what a token may not do; the OpenAPI description
// is served.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const run = promisify(execFile);
const slipwayBin = fileURLToPath(new URL("../../bin/slipway.js", import.meta.url));
const owner = "cli";
const repoName = "tools";
const yml = "functions:\n  - id: echo\n    runtime: node-20\n    root: echo\n    commands: \"\"\n    execute: any\n";
const handler = (v: string) => `module.exports = async (c) => c.res.text(${JSON.stringify(v)});\n`;

describe("REST API and CLI", { timeout: 10 * 60_000 }, () => {
  let stack: SlipwayStack;
  let repo: Awaited<ReturnType<SlipwayStack["emulator"]["createRepo"]>>;
  let token: string;
  let functionId: string;
  let stdinText = "";

  const cli = async (...args: string[]) => {
    try {
      const child = run(process.execPath, [slipwayBin, ...args], {
        env: { PATH: process.env.PATH ?? "", DATABASE_URL: stack.env.DATABASE_URL!, SLIPWAY_API_URL: stack.appUrl, ...(token ? { SLIPWAY_TOKEN: token } : {}) },
      });
      child.child.stdin?.end(stdinText);
      stdinText = "";
      const { stdout, stderr } = await child;
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  async function push(files: Record<string, string>, message: string) {
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message }), secret: stack.webhookSecret });
    return commit.sha;
  }

  async function waitDone(sha: string) {
    await stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === sha && r.status === "completed"), { timeoutMs: 180_000, intervalMs: 200 });
  }

  const served = async () => (await fetch(`${stack.gatewayUrl}/fn/echo~${repoName}~${owner}/`)).text();

  before(async () => {
    stack = await startSlipwayStack({ env: { SLIPWAY_MASTER_KEY: "ab".repeat(32) } });
    repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 3131 });
    await waitDone(await push({ "slipway.yml": yml, "echo/index.js": handler("first") }, "first"));
    await waitDone(await push({ "echo/index.js": handler("second") }, "second"));
  });

  after(async () => {
    if (stack) await stack.stop();
  });

  test("`slipway token create` prints a token once and stores only its hash", async () => {
    const created = await cli("token", "create", "--name", "release-bot");
    assert.equal(created.code, 0, created.stderr);
    token = created.stdout.split("\n")[0]!;
    assert.match(token, /^slw_[A-Za-z0-9_-]{40,}$/);
    const stored = await stack.db.query("select token_hash, kind from api_tokens where name = 'release-bot'");
    assert.equal(stored.rows[0].kind, "server");
    assert.notEqual(stored.rows[0].token_hash, token);
    assert.ok(!JSON.stringify(stored.rows).includes(token));
  });

  test("functions ls and deployments ls show what serves", async () => {
    const functions = await cli("functions", "ls", "--json");
    assert.equal(functions.code, 0, functions.stderr);
    const fn = (JSON.parse(functions.stdout) as { functions: { id: string; name: string; aliases: { alias: string; version: number }[] }[] }).functions[0]!;
    functionId = fn.id;
    assert.equal(fn.name, "echo");
    assert.equal(fn.aliases.find((a) => a.alias === "production")?.version, 2);
    const deployments = await cli("deployments", "ls", "--function", functionId);
    assert.equal(deployments.code, 0, deployments.stderr);
    assert.match(deployments.stdout, /echo\s+v2\s+ready/);
    assert.match(deployments.stdout, /echo\s+v1\s+ready/);
  });

  test("rollback and promote from the CLI, recorded in the audit log under the token's name", async () => {
    const rolled = await cli("rollback", functionId);
    assert.equal(rolled.code, 0, rolled.stderr);
    assert.match(rolled.stdout, /Rolled back echo: v2 → v1 in \d+ ms \(production pinned\)/);
    assert.equal(await served(), "first");
    const promoted = await cli("promote", functionId, "v2");
    assert.match(promoted.stdout, /Promoted echo: v1 → v2/);
    assert.equal(await served(), "second");
    const audit = (await (await fetch(`${stack.appUrl}/v1/functions/${functionId}/audit`, { headers: { authorization: `Bearer ${token}` } })).json()) as { entries: { action: string; actor: string; via: string }[] };
    assert.deepEqual(audit.entries.slice(0, 2).map((e) => [e.action, e.actor, e.via]), [["promote", "release-bot", "api"], ["rollback", "release-bot", "api"]]);
  });

  test("variables: set from standard input, listed by name only, stored encrypted, never logged", async () => {
    const secret = `s3cret-${Date.now()}`;
    stdinText = `${secret}\n`;
    const set = await cli("variables", "set", `${owner}/${repoName}`, "API_KEY");
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /Set API_KEY/);
    const listed = await cli("variables", "ls", `${owner}/${repoName}`);
    assert.match(listed.stdout, /API_KEY/);
    assert.ok(!listed.stdout.includes(secret), "a list shows names only");
    const stored = await stack.db.query("select ciphertext from variables where name = 'API_KEY'");
    assert.ok(!Buffer.from(stored.rows[0].ciphertext).toString("latin1").includes(secret), "the value is encrypted at rest");
    assert.ok(!stack.logs().includes(secret), "the value is in no log");
    const removed = await cli("variables", "rm", `${owner}/${repoName}`, "API_KEY");
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((await stack.db.query("select 1 from variables where name = 'API_KEY'")).rowCount, 0);
  });

  test("a refused action exits non-zero with the reason", async () => {
    const refused = await cli("rollback", functionId, "v42");
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /slipway: there is no v42/);
  });

  test("logs --follow streams a build while it runs and ends with its status", async () => {
    const sha = await push({ "slipway.yml": yml.replace('commands: ""', 'commands: "for i in 1 2 3 4 5; do echo tick-$i; sleep 1; done"'), "echo/index.js": handler("third") }, "slow");
    const deploymentId = await stack.emulator.waitFor(
      async () => (await stack.db.query("select id from deployments where commit_sha = $1 and status = 'building'", [sha])).rows[0]?.id as string | undefined,
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const followed = await cli("logs", deploymentId, "--follow");
    assert.equal(followed.code, 0, followed.stderr);
    assert.match(followed.stdout, /tick-1[\s\S]*tick-5/);
    assert.match(followed.stdout, /\[slipway\] deployment ready/);
    await waitDone(sha);
    const after = await cli("logs", deploymentId);
    assert.equal(after.code, 0, after.stderr);
    assert.match(after.stdout, /tick-5/, "the stored log tail serves once the build is over");
  });

  test("the API refuses a missing token, a client token and bad input, and serves its OpenAPI description", async () => {
    const none = await fetch(`${stack.appUrl}/v1/functions`);
    assert.equal(none.status, 401);
    assert.match(((await none.json()) as { error: string }).error, /needs an API token/);
    const client = await cli("token", "create", "--name", "a-user", "--kind", "client");
    const clientToken = client.stdout.split("\n")[0]!;
    const forbidden = await fetch(`${stack.appUrl}/v1/functions/${functionId}/rollback`, { method: "POST", headers: { authorization: `Bearer ${clientToken}` } });
    assert.equal(forbidden.status, 403);
    assert.match(((await forbidden.json()) as { error: string }).error, /needs a server token; this token is a client token/);
    const bad = await fetch(`${stack.appUrl}/v1/functions/not-a-uuid/rollback`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    assert.equal(bad.status, 400);
    const openapi = (await (await fetch(`${stack.appUrl}/v1/openapi.json`)).json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    assert.equal(openapi.openapi, "3.1.0");
    assert.ok(openapi.paths["/v1/functions/{functionId}/rollback"]?.post);
    assert.ok(openapi.paths["/v1/deployments/{deploymentId}/logs"]?.get);
  });
});
