// Issue 6, function URLs: a call to /fn/<slug>/ is an execution whose row carries the logs
// and errors the function wrote (collected from the runtime after the response, then
// removed from the container), and which runs under the function's own `timeout:` from
// slipway.yml, ending with a 504 and a `timed_out` execution when it runs past it.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import { createApiToken } from "../../src/api/api-tokens.js";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "acme";
const repoName = "url-fns";
const slug = `talker~${repoName}~${owner}`;
const sleeperSlug = `sleeper~${repoName}~${owner}`;

// Two functions of the same code. talker keeps the global timeout (15 s), so a burst of calls
// queued behind each other on a busy machine is not cut short. sleeper has timeout: 2, well
// under the global default, so a call that obeyed the global value would finish its 6 s sleep
// and answer 200.
const slipwayYml = `functions:
  - id: talker
    runtime: node-20
    root: fn
    commands: "true"
    execute: any
  - id: sleeper
    runtime: node-20
    root: fn
    commands: "true"
    execute: any
    timeout: 2
`;

const handler = `module.exports = async (context) => {
  const id = context.req.headers["x-slipway-execution-id"];
  if (context.req.path === "/slow") {
    context.log("going to sleep " + id);
    await new Promise((r) => setTimeout(r, 6000));
    return context.res.text("woke up");
  }
  context.log("hello from " + id);
  context.log({ nested: { n: 1 } });
  context.error("something odd in " + id);
  return context.res.json({ id });
};
`;

describe("function URL executions", { timeout: 15 * 60_000 }, () => {
  let stack: SlipwayStack;
  let server: string;
  let container: Docker.Container;

  before(async () => {
    stack = await startSlipwayStack();
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 6161 });
    server = (await createApiToken(stack.db, { name: "operator", kind: "server" })).token;
    const files = { "slipway.yml": slipwayYml, "fn/index.js": handler, "fn/package.json": JSON.stringify({ name: "fn", private: true }) };
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: "deploy" });
    const payload = pushPayload({ repo, before: commit.before, after: commit.sha, message: "deploy" });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload, secret: stack.webhookSecret, deliveryId: randomUUID() });
    const live = await stack.emulator.waitFor(
      async () => {
        const { rows } = await stack.db.query<{ name: string; deployment_id: string }>("select f.name, a.deployment_id from aliases a join functions f on f.id = a.function_id where a.name = 'production'");
        return rows.length === 2 ? rows : undefined;
      },
      { timeoutMs: 8 * 60_000, intervalMs: 500 },
    );
    container = new Docker().getContainer(`slipway-runtime-${live.find((row) => row.name === "talker")!.deployment_id}`);
  });

  after(async () => {
    if (process.env.SLIPWAY_TEST_LOG_FILE && stack) (await import("node:fs")).writeFileSync(process.env.SLIPWAY_TEST_LOG_FILE, stack.logs());
    if (stack) await stack.stop();
  });

  const call = (path = "/", functionSlug = slug) => fetch(`${stack.gatewayUrl}/fn/${functionSlug}${path}`);

  // The row is written once the call's logs are collected, a moment after the response.
  const recorded = (id: string) =>
    stack.emulator.waitFor(
      async () => {
        const response = await fetch(`${stack.gatewayUrl}/v1/executions/${id}`, { headers: { authorization: `Bearer ${server}` } });
        return response.status === 200 ? ((await response.json()) as Record<string, any>) : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );

  async function logFilesInContainer(): Promise<string[]> {
    const exec = await container.exec({ Cmd: ["ls", "-1", "/mnt/logs"], AttachStdout: true, AttachStderr: true, Tty: true });
    const stream = (await exec.start({ Tty: true })) as unknown as Readable;
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve) => {
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", resolve);
    });
    return Buffer.concat(chunks).toString("utf8").split(/\s+/).filter(Boolean);
  }

  test("a call's logs and errors end up in its execution, and its log files leave the container", async () => {
    const response = await call("/");
    assert.equal(response.status, 200);
    const id = response.headers.get("x-slipway-execution-id")!;
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(await response.json(), { id });

    const e = await recorded(id);
    assert.equal(e.trigger, "http");
    assert.equal(e.status, "completed");
    assert.equal(e.responseStatusCode, 200);
    assert.match(e.logs, new RegExp(`hello from ${id}`));
    assert.match(e.logs, /\{"nested":\{"n":1\}\}/);
    assert.match(e.errors, new RegExp(`something odd in ${id}`));
    assert.ok(e.finishedAt && new Date(e.finishedAt).getTime() >= new Date(e.startedAt).getTime());

    const left = await logFilesInContainer();
    assert.ok(!left.includes(`${id}_logs.log`) && !left.includes(`${id}_errors.log`), `the files are gone: ${left.join(" ")}`);
  });

  test("many concurrent calls: each execution gets its own logs, and no file is left behind", async () => {
    const responses = await Promise.all(Array.from({ length: 150 }, () => call("/")));
    const ids = responses.map((r) => {
      assert.equal(r.status, 200);
      return r.headers.get("x-slipway-execution-id")!;
    });
    await Promise.all(responses.map((r) => r.arrayBuffer()));
    for (const id of ids) {
      const e = await recorded(id);
      assert.match(e.logs, new RegExp(`^hello from ${id}\\n`));
      assert.equal(e.errors, `something odd in ${id}`);
    }
    const left = await logFilesInContainer();
    const ours = left.filter((name) => ids.some((id) => name.startsWith(id)));
    assert.deepEqual(ours, [], "every call's files were removed");
  });

  test("a call past the function's own timeout gets a 504 and is recorded as timed out", async () => {
    const started = Date.now();
    const response = await call("/slow", sleeperSlug);
    const elapsed = Date.now() - started;
    assert.equal(response.status, 504);
    const body = (await response.json()) as { error: string };
    assert.match(body.error, /exceeded its 2 s timeout/);
    // The 504 itself shows the 2 s timeout applied (under the global 15 s the 6 s sleep would
    // have answered 200); the bounds only rule out a cut before 2 s or at the global value.
    assert.ok(elapsed >= 1900 && elapsed < 14_000, `it stopped at the function's 2 s timeout, not the global 15 s (${elapsed} ms)`);
    const id = response.headers.get("x-slipway-execution-id")!;

    const e = await recorded(id);
    assert.equal(e.status, "timed_out");
    assert.equal(e.responseStatusCode, 504);
    assert.match(e.logs, new RegExp(`going to sleep ${id}`));
    assert.match(e.errors, /timed out after 2 s/i);
    const listed = (await (await fetch(`${stack.gatewayUrl}/v1/functions/${sleeperSlug}/executions?status=timed_out&trigger=http`, { headers: { authorization: `Bearer ${server}` } })).json()) as { executions: { id: string }[] };
    assert.ok(listed.executions.some((x) => x.id === id));
  });
});
