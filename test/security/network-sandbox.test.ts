// Issue 13, deliverable 3: builds and runtimes are sandboxed on the network. On the real
// stack (listening on every interface, as the default SLIPWAY_HOST does), a build and a
// running function each try TCP connections and report what answered:
//   - the host's services on every host address, the Docker bridges' gateway addresses
//     included: a listener this test opens, the gateway, the app and Redis;
//   - another function's runtime container (its address, port 3000);
//   - a container on Docker's default bridge;
//   - 169.254.169.254:80 (cloud metadata).
// None may answer. Each forbidden target that can be is first shown to answer from the host,
// so the test cannot pass because the target was never there. A package registry on 443 must
// answer from both, so it cannot pass because all networking is broken either. The gateway
// still reaches the runtimes (each call goes through it), on both data planes.
// Anything but a connection counts as refused: the kernel rate-limits the ICMP answers of
// the REJECT rules, so some of many refusals at once arrive late and end as timeouts.
// The rules are scripts/sandbox-firewall.sh's, which scripts/setup.sh installs.
import assert from "node:assert/strict";
import { createServer, connect, type Server } from "node:net";
import { networkInterfaces } from "node:os";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import { pushPayload } from "../emulator/webhooks.js";
import type { RepoRecord } from "../emulator/emulator-types.js";
import { functionSlug, functionUrl } from "../../src/gateway/route-key.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

type Target = { host: string; port: number; what: string };
type Attempt = Target & { result: string; ms: number };

const owner = "sandbox";
const registries: Target[] = [
  { host: "registry.npmjs.org", port: 443, what: "npm registry" },
  { host: "pypi.org", port: 443, what: "PyPI" },
];

// Shared by the build command and the function: tries every target at once. A target that
// neither connects nor is refused within 5 s counts as not reached: the kernel rate-limits the
// ICMP "admin-prohibited" replies, so under many probes at once some refusals arrive late. The
// registries are the positive control, so a probe that never connects anywhere cannot pass.
const probeModule = `const net = require("node:net");
const attempt = (target) => new Promise((resolve) => {
  const began = Date.now();
  const socket = net.connect({ host: target.host, port: target.port });
  const done = (result) => { socket.destroy(); resolve({ ...target, result, ms: Date.now() - began }); };
  socket.setTimeout(5000, () => done("timeout"));
  socket.once("connect", () => done("connected"));
  socket.once("error", (error) => done(error.code || error.message));
});
module.exports = (targets) => Promise.all(targets.map(attempt));
`;
const probeHandler = `const probe = require("./probe.js");
module.exports = async (c) => {
  if (c.req.path === "/build") return c.res.json(require("./build-probe.json"));
  if (c.req.method === "POST") return c.res.json(await probe(JSON.parse(c.req.bodyRaw)));
  return c.res.text("probe");
};
`;
const buildCommand =
  "node -e 'require(\"./probe.js\")(require(\"./targets.json\")).then((r) => { require(\"fs\").writeFileSync(\"build-probe.json\", JSON.stringify(r)); console.log(JSON.stringify(r)); })'";
const yml = (withProbe: boolean) =>
  `functions:\n  - id: neighbour\n    runtime: node-20\n    root: neighbour\n    commands: ""\n    execute: any\n` +
  (withProbe ? `  - id: probe\n    runtime: node-20\n    root: probe\n    commands: ${JSON.stringify(buildCommand)}\n    execute: any\n` : "");

/** From the host: does host:port accept a TCP connection? */
function answersFromHost(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(5000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((address) => address && address.family === "IPv4" && !address.internal)
    .map((address) => address!.address);
}

function forbiddenAnswers(attempts: Attempt[], forbidden: Target[]): Attempt[] {
  return attempts.filter((a) => a.result === "connected" && forbidden.some((f) => f.host === a.host && f.port === a.port));
}

for (const plane of ["nginx", "node"] as const) {
  describe(`network sandbox (${plane} data plane)`, { timeout: 12 * 60_000 }, () => {
    const docker = new Docker();
    let stack: SlipwayStack;
    let repo: RepoRecord;
    let listener: Server;
    let bystander: Docker.Container;
    let forbidden: Target[] = [];
    const url = (name: string) => functionUrl(stack.gatewayUrl, functionSlug(owner, repo.name, name));
    const runtimeOf = async (name: string) => {
      const row = (await stack.db.query<{ deployment_id: string }>("select a.deployment_id from aliases a join functions f on f.id = a.function_id where f.name = $1 and a.name = 'production'", [name])).rows[0]!;
      return docker.getContainer(`slipway-runtime-${row.deployment_id}`).inspect();
    };
    const deploy = async (withProbe: boolean, files: Record<string, string>) => {
      const commit = await stack.emulator.commit({ owner, repo: repo.name, files: { "slipway.yml": yml(withProbe), ...files }, message: withProbe ? "probe" : "neighbour" });
      await stack.deliver("push", pushPayload({ repo, before: commit.before, after: commit.sha, message: withProbe ? "probe" : "neighbour" }));
      const names = withProbe ? ["neighbour", "probe"] : ["neighbour"];
      for (const name of names) {
        const run = await stack.emulator.waitFor(
          () => stack.emulator.checkRuns(owner, repo.name).find((r) => r.head_sha === commit.sha && r.name === `slipway / ${name}` && r.status === "completed"),
          { timeoutMs: 5 * 60_000, intervalMs: 500, describe: () => stack.logs().slice(-4000) },
        );
        assert.equal(run.conclusion, "success", `${name}: ${run.output.summary ?? ""}\n${run.output.text ?? ""}`);
      }
      for (const name of names) await stack.emulator.waitFor(async () => (await fetch(url(name)).catch(() => null))?.status === 200, { timeoutMs: 120_000, intervalMs: 250 });
    };

    before(async () => {
      listener = createServer((socket) => {
        socket.on("error", () => {}); // the probes hang up at once
        socket.end("host service\n");
      });
      await new Promise<void>((resolve) => listener.listen(0, "0.0.0.0", resolve));
      const listenerPort = (listener.address() as { port: number }).port;
      bystander = await docker.createContainer({
        Image: "slipway/runtime-node-20:local",
        Cmd: ["node", "-e", "require('node:net').createServer((s) => s.end('bystander')).listen(4000)"],
        Labels: { "slipway.test": "network-sandbox" },
      });
      await bystander.start();

      stack = await startSlipwayStack({ env: { SLIPWAY_HOST: "0.0.0.0", SLIPWAY_DATA_PLANE: plane } });
      repo = await stack.emulator.createRepo({ owner, name: `probes-${plane}`, installationId: plane === "nginx" ? 9601 : 9602 });
      await deploy(false, { "neighbour/index.js": "module.exports = async (c) => c.res.text('neighbour');\n" });

      const neighbour = await runtimeOf("neighbour");
      const neighbourAddress = neighbour.NetworkSettings.Networks["slipway-runtime"]?.IPAddress;
      assert.ok(neighbourAddress, `the runtime is on the slipway-runtime network: ${Object.keys(neighbour.NetworkSettings.Networks).join(", ")}`);
      const bystanderAddress = (await bystander.inspect()).NetworkSettings.Networks["bridge"]?.IPAddress;
      assert.ok(bystanderAddress, "the bystander is on Docker's default bridge");
      const hostPorts = [listenerPort, Number(new URL(stack.gatewayUrl).port), Number(new URL(stack.appUrl).port), 6379];
      forbidden = [
        ...hostAddresses().flatMap((host) => hostPorts.map((port) => ({ host, port, what: `host service ${host}:${port}` }))),
        { host: neighbourAddress, port: 3000, what: "another function's runtime" },
        { host: bystanderAddress, port: 4000, what: "a container on the default bridge" },
        { host: "169.254.169.254", port: 80, what: "cloud metadata" },
      ];

      // Controls: what is forbidden from inside answers from the host.
      for (const host of hostAddresses()) assert.ok(await answersFromHost(host, listenerPort), `the host service answers on ${host}`);
      assert.ok(await answersFromHost(hostAddresses()[0]!, Number(new URL(stack.gatewayUrl).port)), "the gateway listens beyond loopback");
      assert.ok(await answersFromHost(neighbourAddress, 3000), "the neighbour's runtime answers on its address");
      assert.ok(await answersFromHost(bystanderAddress, 4000), "the bystander container answers on its address");

      const targets = [...registries, ...forbidden];
      await deploy(true, { "probe/index.js": probeHandler, "probe/probe.js": probeModule, "probe/targets.json": JSON.stringify(targets) });
    });

    after(async () => {
      listener?.close();
      await bystander?.remove({ force: true }).catch(() => {});
      if (stack) {
        assert.deepEqual(stack.emulator.validationErrors, [], "every request Slipway made matches GitHub's OpenAPI description");
        await stack.stop();
      }
    });

    test("runtimes run on the sandbox network, and the gateway reaches them", async () => {
      for (const name of ["neighbour", "probe"]) {
        const info = await runtimeOf(name);
        assert.equal(info.HostConfig.NetworkMode, "slipway-runtime");
        assert.deepEqual(Object.keys(info.NetworkSettings.Networks), ["slipway-runtime"]);
      }
      assert.equal(await (await fetch(url("neighbour"))).text(), "neighbour");
      const network = await docker.getNetwork("slipway-runtime").inspect();
      assert.equal(network.Options?.["com.docker.network.bridge.enable_icc"], "false");
      // The worker and the gateway each checked the rules with a probe container at start.
      await stack.emulator.waitFor(() => (stack.logs().match(/sandbox firewall rules are in place/g) ?? []).length >= 2, { timeoutMs: 60_000, intervalMs: 250, describe: () => stack.logs().slice(-4000) });
      assert.doesNotMatch(stack.logs(), /sandbox firewall rules are NOT in place/);
    });

    test("a build reaches the package registries but not the host, other containers or link-local addresses", async () => {
      const attempts = (await (await fetch(`${url("probe")}build`)).json()) as Attempt[];
      assert.equal(attempts.length, registries.length + forbidden.length);
      for (const registry of registries) {
        assert.equal(attempts.find((a) => a.host === registry.host)?.result, "connected", `a build reaches the ${registry.what}: ${JSON.stringify(attempts)}`);
      }
      assert.deepEqual(forbiddenAnswers(attempts, forbidden), [], "nothing forbidden answered a build");
    });

    test("a function reaches the internet but not the host, other functions, other containers or link-local addresses", async () => {
      const response = await fetch(url("probe"), { method: "POST", body: JSON.stringify([...registries, ...forbidden]), headers: { "content-type": "application/json" } });
      assert.equal(response.status, 200);
      const attempts = (await response.json()) as Attempt[];
      for (const registry of registries) {
        assert.equal(attempts.find((a) => a.host === registry.host)?.result, "connected", `a function reaches ${registry.what}: ${JSON.stringify(attempts)}`);
      }
      assert.deepEqual(forbiddenAnswers(attempts, forbidden), [], "nothing forbidden answered a function");
    });
  });
}
