// Issue 5's archive-upload path, end to end: `slipway deploy <dir>` (a real child process)
// uploads a local directory, the worker builds it with no GitHub call at all, and it serves
// as a preview or, with --prod, as production (through a pin only by promote). A redeploy
// builds the kept archive again; bad uploads and failing builds say what is wrong.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { after, before, describe, test } from "node:test";
import tar from "tar-stream";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const run = promisify(execFile);
const slipwayBin = fileURLToPath(new URL("../../bin/slipway.js", import.meta.url));
const owner = "laptop";
const repoName = "site";
const yml = (commands = "") => `functions:\n  - id: hello\n    runtime: node-20\n    root: hello\n    commands: "${commands}"\n    execute: any\n`;
const handler = (v: string) => `module.exports = async (c) => c.res.text(${JSON.stringify(v)});\n`;

async function tarGz(entries: { name: string; content: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const entry of entries) pack.entry({ name: entry.name }, entry.content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

async function archiveNames(path: string): Promise<string[]> {
  const names: string[] = [];
  const extract = tar.extract();
  const gunzip = (await import("node:zlib")).createGunzip();
  createReadStream(path).pipe(gunzip).pipe(extract);
  for await (const entry of extract) {
    names.push(entry.header.name);
    entry.resume();
  }
  return names.sort();
}

describe("slipway deploy <dir>", { timeout: 10 * 60_000 }, () => {
  let stack: SlipwayStack;
  let token = "";
  let functionId = "";
  const scratch: string[] = [];

  const cli = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [slipwayBin, ...args], {
        env: { PATH: process.env.PATH ?? "", DATABASE_URL: stack.env.DATABASE_URL!, SLIPWAY_API_URL: stack.appUrl, ...(token ? { SLIPWAY_TOKEN: token } : {}) },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  async function directory(files: Record<string, string>): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), "slipway-deploy-"));
    scratch.push(dir);
    for (const [name, content] of Object.entries(files)) {
      await mkdir(join(dir, name, ".."), { recursive: true });
      await writeFile(join(dir, name), content);
    }
    return dir;
  }

  const production = async () => (await fetch(`${stack.gatewayUrl}/fn/hello~${repoName}~${owner}/`)).text();
  const githubCalls = () => stack.emulator.requests.length + stack.emulator.gitRequests.length;
  const deploymentOf = async (version: number) =>
    (await stack.db.query("select * from deployments where function_id = $1 and version = $2", [functionId, version])).rows[0] as Record<string, unknown>;

  before(async () => {
    stack = await startSlipwayStack();
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 4242 });
    const commit = await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": yml(), "hello/index.js": handler("from-git") }, message: "first" });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: "first" }), secret: stack.webhookSecret });
    await stack.emulator.waitFor(() => stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === commit.sha && r.status === "completed"), { timeoutMs: 180_000, intervalMs: 200 });
    token = (await cli("token", "create", "--name", "laptop-user")).stdout.split("\n")[0]!;
    functionId = (await stack.db.query("select id from functions where name = 'hello'")).rows[0].id;
  });

  after(async () => {
    for (const dir of scratch) await rm(dir, { recursive: true, force: true });
    if (stack) await stack.stop();
  });

  test("uploads a function's directory as a preview: built without GitHub, served at its own URL, production unchanged", async () => {
    const dir = await directory({ "index.js": handler("from-laptop") });
    const before = githubCalls();
    const result = await cli("deploy", dir, "--function", functionId);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Uploaded 1 files \(\d+ KB\) as hello v2 \([0-9a-f-]{36}\); building…/);
    assert.match(result.stdout, /\[slipway\] deployment ready/, "the build log is followed to its end");
    assert.match(result.stdout, /A preview: production is unchanged/);
    assert.equal(githubCalls(), before, "no GitHub request at all: no clone, check run or deployment");
    const v2 = await deploymentOf(2);
    assert.equal(v2.trigger, "upload");
    assert.equal(v2.status, "ready");
    assert.equal(v2.created_by, "laptop-user");
    assert.equal(v2.created_via, "cli");
    assert.match(String(v2.source_digest), /^sha256:[0-9a-f]{64}$/);
    assert.equal(await (await fetch(`${stack.gatewayUrl}/d/${v2.id}/`)).text(), "from-laptop");
    assert.equal(await production(), "from-git");
  });

  test("--prod from a git work tree goes live, leaves ignored files behind and is audited as the CLI's token", async () => {
    const dir = await directory({
      "slipway.yml": yml(),
      "hello/index.js": handler("laptop-prod"),
      ".gitignore": ".env\n",
      ".env": "API_KEY=do-not-upload\n",
    });
    await run("git", ["init", "--quiet"], { cwd: dir });
    const result = await cli("deploy", dir, "--function", functionId, "--prod");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Production now serves v3/);
    assert.equal(await production(), "laptop-prod");
    const v3 = await deploymentOf(3);
    assert.equal(v3.root, "hello", "an upload with slipway.yml is a repository: the function's root is built");
    const digest = String(v3.source_digest).slice("sha256:".length);
    const names = await archiveNames(join(stack.env.SLIPWAY_ARTIFACT_DIR!, "sha256", digest.slice(0, 2), `${digest}.tar.gz`));
    assert.deepEqual(names, [".gitignore", "hello/index.js", "slipway.yml"], "git's view of the directory: the ignored .env stays on the laptop");
    const audit = await stack.db.query("select action, actor, via from audit_log where to_deployment_id = $1", [v3.id]);
    assert.deepEqual(audit.rows.map((r) => [r.action, r.actor, r.via]), [["activate", "laptop-user", "cli"]]);
  });

  test("a redeploy builds the kept archive again, still without GitHub", async () => {
    const before = githubCalls();
    const result = await cli("redeploy", functionId);
    assert.equal(result.code, 0, result.stderr);
    const v4 = await stack.emulator.waitFor(async () => {
      const row = await deploymentOf(4);
      return row && row.status === "ready" ? row : undefined;
    }, { timeoutMs: 120_000, intervalMs: 250 });
    assert.equal(v4.source_digest, (await deploymentOf(3)).source_digest);
    assert.equal(v4.root, "hello");
    await stack.emulator.waitFor(async () => ((await production()) === "laptop-prod" && (await stack.db.query("select 1 from aliases a join deployments d on d.id = a.deployment_id where a.function_id = $1 and a.name = 'production' and d.version = 4", [functionId])).rowCount === 1) || undefined, { timeoutMs: 30_000, intervalMs: 200 });
    assert.equal(githubCalls(), before);
    const audit = await stack.db.query("select action, actor, via from audit_log where to_deployment_id = $1", [v4.id]);
    assert.deepEqual(audit.rows.map((r) => [r.action, r.actor, r.via]), [["activate", "laptop-user", "api"]], "a redeploy goes live under the name of whoever asked for it");
  });

  test("a pinned production keeps serving an upload until promote", async () => {
    assert.equal((await cli("rollback", functionId, "v1")).code, 0);
    const dir = await directory({ "index.js": handler("while-pinned") });
    const result = await cli("deploy", dir, "--function", functionId, "--prod");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Production is pinned to v1 and still serves it; `slipway promote \S+ v5` puts this version live/);
    assert.equal(await production(), "from-git");
    assert.equal((await cli("promote", functionId, "v5")).code, 0);
    assert.equal(await production(), "while-pinned");
  });

  test("a failing build exits non-zero with the reason; bad uploads are refused with one", async () => {
    const dir = await directory({ "slipway.yml": yml("echo no-such-tool >&2; exit 3"), "hello/index.js": handler("never") });
    const failed = await cli("deploy", dir, "--function", functionId, "--prod");
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, /no-such-tool/, "the build log is shown");
    assert.match(failed.stderr, /slipway: v6 failed: the build command exited with code 3/);
    assert.equal(await production(), "while-pinned");

    const post = (body: Buffer | string, contentType = "application/gzip", id = functionId) =>
      fetch(`${stack.appUrl}/v1/functions/${id}/deployments`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": contentType }, body: typeof body === "string" ? body : new Uint8Array(body) });
    const reason = async (response: Response) => ({ status: response.status, error: ((await response.json()) as { error: string }).error });
    const climbing = await tarGz([{ name: "../../etc/cron.d/x", content: "x" }]);
    assert.deepEqual(await reason(await post(climbing)), {
      status: 400,
      error: "the archive entry '../../etc/cron.d/x' climbs out of the upload with '..'",
    });
    const hex = createHash("sha256").update(climbing).digest("hex");
    assert.equal(existsSync(join(stack.env.SLIPWAY_ARTIFACT_DIR!, "sha256", hex.slice(0, 2), `${hex}.tar.gz`)), false, "a refused upload is not kept");
    assert.deepEqual(await reason(await post("not an archive")), { status: 400, error: "the upload is not a gzip-compressed tar archive" });
    assert.equal((await post("{}", "application/json")).status, 415);
    const badYaml = await reason(await post(await tarGz([{ name: "slipway.yml", content: "functions:\n  - id: hello\n    runtime: cobol\n" }])));
    assert.equal(badYaml.status, 400);
    assert.match(badYaml.error, /^slipway.yml in the upload is not valid: line 3, column \d+: functions\[0\]\.runtime/);
    const other = await reason(await post(await tarGz([{ name: "slipway.yml", content: "functions:\n  - id: other\n    runtime: node-20\n" }])));
    assert.match(other.error, /has no function 'hello'/);
    assert.equal((await post(await tarGz([{ name: "index.js", content: "x" }]), "application/gzip", "00000000-0000-4000-8000-000000000000")).status, 404);
    const versions = await stack.db.query("select max(version) as v from deployments where function_id = $1", [functionId]);
    assert.equal(versions.rows[0].v, 6, "a refused upload makes no deployment");
  });

  test("the upload route is in the OpenAPI description", async () => {
    const openapi = (await (await fetch(`${stack.appUrl}/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> } }>> };
    assert.ok(openapi.paths["/v1/functions/{functionId}/deployments"]?.post?.requestBody?.content["application/gzip"]);
  });
});
