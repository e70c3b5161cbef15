// Issue 13's bounds on what one function may do to the host and to its neighbours, on the
// real stack: a runtime container keeps only the capabilities unpacking its artifact needs
// (no raw sockets, no device nodes), runs with no-new-privileges and a pids limit, and its
// log is capped; a call whose body is over SLIPWAY_MAX_REQUEST_MB is answered 413, whether it
// declares its length or streams it, by nginx and by the gateway's own data plane.
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import { pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "bounded";
const repoName = "limits";
const yml = 'functions:\n  - id: probe\n    runtime: node-20\n    root: probe\n    commands: ""\n    execute: any\n';
// The function tries what a hostile one would: make a device node.
const handler = `const { execFileSync } = require("node:child_process");
const attempt = (file, args) => { try { execFileSync(file, args, { stdio: "pipe" }); return "allowed"; } catch (e) { return "refused"; } };
module.exports = async (c) => {
  if (c.req.method === "POST") return c.res.json({ received: c.req.bodyRaw.length });
  return c.res.json({ mknod: attempt("mknod", ["/tmp/null-again", "c", "1", "3"]) });
};
`;

/** POSTs `bytes` of body, declared or chunked; resolves with the status (or "reset" when the connection was cut). */
function post(url: string, bytes: number, chunked: boolean): Promise<number | "reset"> {
  return new Promise((resolve) => {
    // Answered before the whole body went out (a 413): stop sending and close the socket, or
    // the unsent rest would keep this process alive.
    const req = request(url, { method: "POST", headers: chunked ? { "transfer-encoding": "chunked" } : { "content-length": String(bytes) } }, (res) => {
      res.resume();
      res.on("end", () => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
    });
    req.on("error", () => resolve("reset"));
    const chunk = Buffer.alloc(64 * 1024, 120);
    let sent = 0;
    const write = () => {
      while (sent < bytes) {
        if (req.destroyed) return;
        const part = chunk.subarray(0, Math.min(chunk.length, bytes - sent));
        sent += part.length;
        if (!req.write(part)) return void req.once("drain", write);
      }
      req.end();
    };
    write();
  });
}

for (const plane of ["nginx", "node"] as const) {
  describe(`function limits (${plane} data plane)`, { timeout: 8 * 60_000 }, () => {
    let stack: SlipwayStack;
    const url = () => `${stack.gatewayUrl}/fn/probe~${repoName}~${owner}/`;

    before(async () => {
      stack = await startSlipwayStack({ env: { SLIPWAY_MAX_REQUEST_MB: "1", SLIPWAY_DATA_PLANE: plane } });
      const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: plane === "nginx" ? 9301 : 9302 });
      const commit = await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": yml, "probe/index.js": handler }, message: "probe" });
      await stack.deliver("push", pushPayload({ repo, before: commit.before, after: commit.sha, message: "probe" }));
      await stack.emulator.waitFor(async () => (await fetch(url())).status === 200, { timeoutMs: 180_000, intervalMs: 250 });
    });
    after(() => stack?.stop());

    test("the runtime container keeps only the capabilities it needs, with no-new-privileges, a pids limit and a capped log", async () => {
      const probe = (await (await fetch(url())).json()) as { mknod: string };
      assert.equal(probe.mknod, "refused", "no device nodes in a runtime");
      const deploymentId = (await stack.db.query<{ deployment_id: string }>("select deployment_id from aliases where name = 'production'")).rows[0]!.deployment_id;
      const info = await new Docker().getContainer(`slipway-runtime-${deploymentId}`).inspect();
      assert.deepEqual(info.HostConfig.CapDrop, ["ALL"]);
      assert.ok(!((info.HostConfig.CapAdd ?? []) as string[]).some((cap) => /NET_RAW|MKNOD|SYS_ADMIN|NET_ADMIN/.test(cap)), String(info.HostConfig.CapAdd));
      assert.ok(info.HostConfig.SecurityOpt?.includes("no-new-privileges"));
      assert.ok((info.HostConfig.PidsLimit ?? 0) > 0);
      assert.equal(info.HostConfig.LogConfig?.Config?.["max-size"], "10m");
    });

    test("a call over SLIPWAY_MAX_REQUEST_MB is answered 413, declared or streamed; one under it goes through", async () => {
      assert.equal(await post(url(), 512 * 1024, false), 200);
      assert.equal(await post(url(), 512 * 1024, true), 200);
      assert.equal(await post(url(), 3 * 1024 * 1024, false), 413);
      const streamed = await post(url(), 3 * 1024 * 1024, true);
      assert.ok(streamed === 413 || streamed === "reset", `a streamed body over the limit is refused (got ${streamed})`);
      const declared = await fetch(url(), { method: "POST", body: Buffer.alloc(2 * 1024 * 1024) });
      assert.equal(declared.status, 413);
      assert.match(((await declared.json()) as { error: string }).error, /larger than 1 MB \(SLIPWAY_MAX_REQUEST_MB\)/);
    });
  });
}
