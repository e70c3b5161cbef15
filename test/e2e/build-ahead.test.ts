// Issue 19: after a function's successful build, its next build's container is made and
// started ahead, with the build's limits, capabilities, network and the function's own cache
// volume, but no variables and no source; the next push builds in it, and the variables
// reach that build. Real Docker, real builds.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import { cacheVolumeName } from "../../src/pipeline/build-cache.js";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "acme";
const repoName = "ahead";
const docker = new Docker();

// The build prints its container's first process (how the container was made) and a variable.
const slipwayYml = `functions:
  - id: hello
    runtime: node-20
    root: fn
    commands: |
      echo "first process: $(tr '\\0' ' ' < /proc/1/cmdline)"
      echo "greeting is $GREETING"
    execute: any
    variables:
      GREETING: hi there
`;
const handler = (label: string) => `module.exports = async (context) => context.res.text(${JSON.stringify(label)});\n`;

describe("build containers made ahead", { timeout: 10 * 60_000 }, () => {
  let stack: SlipwayStack;
  let repo: Awaited<ReturnType<SlipwayStack["emulator"]["createRepo"]>>;

  before(async () => {
    stack = await startSlipwayStack({ env: { SLIPWAY_BUILD_MEMORY_MB: "768", SLIPWAY_BUILD_PIDS: "300" } });
    repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 4545 });
  });

  after(async () => {
    if (stack) await stack.stop();
  });

  async function deploy(files: Record<string, string>, label: string): Promise<string> {
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: label });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: label }), secret: stack.webhookSecret, deliveryId: randomUUID() });
    const run = await stack.emulator.waitFor(
      () => stack.emulator.checkRuns(owner, repoName).find((r) => r.head_sha === commit.sha && r.status === "completed"),
      { timeoutMs: 5 * 60_000, intervalMs: 250 },
    );
    assert.equal(run.conclusion, "success", `${label}: ${run.output.summary}\n${run.output.text}`);
    return (await stack.db.query<{ log_tail: string }>("select log_tail from deployments where commit_sha = $1", [commit.sha])).rows[0]!.log_tail;
  }

  async function aheadContainer(functionId: string, not?: string): Promise<Docker.ContainerInspectInfo> {
    const found = await stack.emulator.waitFor(
      async () => {
        const listed = await docker.listContainers({ filters: { label: ["slipway.ahead=true", `slipway.function=${functionId}`] } });
        return listed.find((c) => c.Id !== not);
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    return docker.getContainer(found.Id).inspect();
  }

  test("the next build runs in a container made ahead with the same limits and no variables, and gets its variables", async () => {
    const first = await deploy({ "slipway.yml": slipwayYml, "fn/index.js": handler("one") }, "one");
    assert.match(first, /first process: bash -c .* slipway-build-idle /, "the first build made its own container");
    assert.match(first, /greeting is hi there/);
    const functionId = (await stack.db.query<{ id: string }>("select id from functions where name = 'hello'")).rows[0]!.id;

    const made = await aheadContainer(functionId);
    // Nothing of the function's but its cache: no variables, no entrypoint, no dependency keys.
    const imageEnv = new Set((await docker.getImage(made.Config.Image).inspect()).Config.Env ?? []);
    assert.deepEqual((made.Config.Env ?? []).filter((entry) => !imageEnv.has(entry)), []);
    assert.equal(made.Config.Labels["slipway.deployment"], undefined, "it belongs to no deployment yet");
    assert.equal(made.HostConfig.Memory, 768 * 1024 * 1024);
    assert.equal(made.HostConfig.PidsLimit, 300);
    assert.deepEqual(made.HostConfig.CapDrop, ["ALL"]);
    assert.deepEqual(made.HostConfig.SecurityOpt, ["no-new-privileges"]);
    assert.equal(made.HostConfig.NetworkMode, "slipway-build");
    assert.deepEqual(made.Mounts.map((m) => [m.Name, m.Destination]), [[cacheVolumeName(functionId, "node-20"), "/mnt/cache"]]);

    const second = await deploy({ "fn/index.js": handler("two") }, "two");
    assert.match(second, /first process: bash -c [\s\S]*? slipway-build-ahead 60 /, "the second build ran in the container made ahead");
    assert.match(second, /greeting is hi there/, "with the function's variables");
    // The worker removes it once the build is over (after its check run may have completed).
    await stack.emulator.waitFor(() => docker.getContainer(made.Id).inspect().then(() => undefined, () => true), { timeoutMs: 60_000, intervalMs: 200 });
    // And the one after it is made ahead again.
    const next = await aheadContainer(functionId, made.Id);
    assert.notEqual(next.Id, made.Id);
  });
});
