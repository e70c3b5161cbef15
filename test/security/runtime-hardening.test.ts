// Issue 13, deliverable 3: a runtime container is locked down. On the real stack, a node
// function tries what a hostile one would: write to the root filesystem and the runtime's
// own code, make a device node, raise its privileges through a setuid binary. It runs as
// its own user, without a capability, on a read-only root; only /tmp and its own folders
// take writes. Its container's settings say so, and its volumes go with it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import { pushPayload } from "../emulator/webhooks.js";
import { stopRuntime } from "../../src/gateway/runtime-containers.js";
import { functionSlug, functionUrl } from "../../src/gateway/route-key.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "hardened";
const repoName = "runtime";
const yml = 'functions:\n  - id: probe\n    runtime: node-20\n    root: probe\n    commands: ""\n    execute: any\n';
const handler = `const fs = require("node:fs");
const { execFileSync } = require("node:child_process");
const write = (file) => { try { fs.writeFileSync(file, "x"); fs.unlinkSync(file); return "written"; } catch (e) { return e.code; } };
const run = (file, args) => { try { return execFileSync(file, args, { stdio: "pipe" }).toString().trim(); } catch (e) { return "refused: " + (e.stderr || e.message).toString().trim().split("\\n").pop(); } };
module.exports = async (c) => c.res.json({
  uid: process.getuid(),
  root: write("/probe"),
  usr: write("/usr/probe"),
  etc: write("/etc/passwd"),
  helpers: write("/usr/local/server/helpers/start.sh"),
  tmp: write("/tmp/probe"),
  own: write(__dirname + "/probe"),
  mknod: run("mknod", ["/tmp/null-again", "c", "1", "3"]),
  // su is setuid root: no-new-privileges keeps it from raising the caller to root.
  su: run("su", ["-c", "id -u", "root"]),
  caps: fs.readFileSync("/proc/self/status", "utf8").split("\\n").filter((l) => /^Cap(Eff|Prm|Bnd)/.test(l)).join(" "),
});
`;

describe("runtime containers are locked down", { timeout: 8 * 60_000 }, () => {
  let stack: SlipwayStack;
  const docker = new Docker();

  before(async () => {
    stack = await startSlipwayStack();
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 9601 });
    const commit = await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": yml, "probe/index.js": handler }, message: "probe" });
    await stack.deliver("push", pushPayload({ repo, before: commit.before, after: commit.sha, message: "probe" }));
    const url = functionUrl(stack.gatewayUrl, functionSlug(owner, repoName, "probe"));
    await stack.emulator.waitFor(async () => (await fetch(url).catch(() => null))?.status === 200, { timeoutMs: 180_000, intervalMs: 250, describe: () => stack.logs().slice(-3000) });
  });
  after(() => stack?.stop());

  const deploymentId = async () => (await stack.db.query<{ deployment_id: string }>("select deployment_id from aliases where name = 'production'")).rows[0]!.deployment_id;

  test("the function cannot write outside /tmp and its own folder, make devices or become root", async () => {
    const probe = (await (await fetch(functionUrl(stack.gatewayUrl, functionSlug(owner, repoName, "probe")))).json()) as Record<string, string | number>;
    assert.equal(probe.uid, 10001, "not root");
    for (const place of ["root", "usr", "etc", "helpers"]) assert.equal(probe[place], "EROFS", `${place}: ${JSON.stringify(probe)}`);
    assert.equal(probe.tmp, "written");
    assert.equal(probe.own, "written");
    assert.match(String(probe.mknod), /^refused/);
    assert.match(String(probe.su), /^refused/);
    assert.match(String(probe.caps), /CapEff:\s+0000000000000000/, String(probe.caps));
    assert.match(String(probe.caps), /CapBnd:\s+0000000000000000/, String(probe.caps));
  });

  test("its container has a read-only root, no capabilities, no-new-privileges and a pids limit; its volumes go with it", async () => {
    const id = await deploymentId();
    const info = await docker.getContainer(`slipway-runtime-${id}`).inspect();
    assert.equal(info.HostConfig.ReadonlyRootfs, true);
    assert.deepEqual(info.HostConfig.CapDrop, ["ALL"]);
    assert.deepEqual(info.HostConfig.CapAdd ?? [], []);
    assert.ok(info.HostConfig.SecurityOpt?.includes("no-new-privileges"));
    assert.equal(info.HostConfig.PidsLimit, 256);
    assert.equal(info.Config.User, "10001:10001");
    assert.match((info.HostConfig as { Tmpfs?: Record<string, string> }).Tmpfs?.["/tmp"] ?? "", /size=\d+m/);
    const volumes = info.Mounts.filter((m) => m.Type === "volume").map((m) => m.Name!);
    assert.deepEqual(info.Mounts.filter((m) => m.Type === "volume").map((m) => m.Destination).sort(), ["/mnt/code", "/mnt/logs", "/usr/local/server/src/function"]);

    await stopRuntime(docker, id);
    for (const name of volumes) await assert.rejects(docker.getVolume(name).inspect(), /no such volume/i, `volume ${name} was removed with its container`);
  });
});
