// Issue 13, keys scoped to what they serve: the execution key a preview's calls carry
// (x-slipway-key) works for that preview's deployment only, so it can neither run
// production through the executions API nor call production's URL; production's own key
// still runs production. And a /d/<id>/ URL checks permission before it starts anything.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import Docker from "dockerode";
import { createApiToken } from "../../src/api/api-tokens.js";
import type { RepoRecord } from "../emulator/emulator-types.js";
import { pullRequestPayload, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "acme";
const repoName = "scoped-keys";
const slug = `keyed~${repoName}~${owner}`;

// execute: left out, so only a server key (or the function's own key) may call it.
const slipwayYml = `functions:
  - id: keyed
    runtime: node-20
    root: fn
    commands: "true"
`;

const handler = (version: string) => `module.exports = async (context) => context.res.json({
  version: ${JSON.stringify(version)},
  key: context.req.headers["x-slipway-key"] ?? null,
  deploymentId: process.env.SLIPWAY_DEPLOYMENT_ID ?? null,
});
`;
const files = (version: string) => ({ "fn/index.js": handler(version), "fn/package.json": JSON.stringify({ name: "fn", private: true }) });

describe("scoped execution keys", { timeout: 15 * 60_000 }, () => {
  let stack: SlipwayStack;
  let repo: RepoRecord;
  let server: string;
  let prNumber: number;

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const seen = async (path: string) => {
    const response = await fetch(`${stack.gatewayUrl}${path}`, { headers: bearer(server) });
    assert.equal(response.status, 200, `${path}: ${response.status}`);
    return (await response.json()) as { version: string; key: string; deploymentId: string };
  };
  const execute = (token: string) =>
    fetch(`${stack.gatewayUrl}/v1/functions/${slug}/executions`, { method: "POST", headers: { ...bearer(token), "content-type": "application/json" }, body: JSON.stringify({ method: "GET", path: "/" }) });

  async function push(version: string): Promise<string> {
    const commit = await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": slipwayYml, ...files(version) }, message: version });
    const response = await stack.deliver("push", pushPayload({ repo, before: commit.before, after: commit.sha, message: version }));
    assert.equal(response.status, 202, response.body);
    await stack.emulator.waitFor(async () => (await fetch(`${stack.gatewayUrl}/fn/${slug}/`, { headers: bearer(server) }).then((r) => r.json()).catch(() => null))?.version === version, {
      timeoutMs: 8 * 60_000,
      intervalMs: 500,
    });
    return commit.sha;
  }

  before(async () => {
    stack = await startSlipwayStack();
    repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 7401 });
    server = (await createApiToken(stack.db, { name: "operator", kind: "server" })).token;
    await push("production v1");
    await stack.emulator.commit({ owner, repo: repoName, branch: "feature", files: files("preview"), message: "preview" });
    const pr = await stack.emulator.createPullRequest({ owner, repo: repoName, head: "feature" });
    prNumber = pr.number;
    const response = await stack.deliver("pull_request", pullRequestPayload({ repo, number: pr.number, pullRequest: pr }));
    assert.equal(response.status, 202, response.body);
    await stack.emulator.waitFor(async () => (await fetch(`${stack.gatewayUrl}/fn/${slug}~pr-${prNumber}/`, { headers: bearer(server) })).status === 200, { timeoutMs: 8 * 60_000, intervalMs: 500 });
  });

  after(async () => {
    if (stack) await stack.stop();
  });

  test("a preview's key works for the preview only; production's key still runs production", async () => {
    const preview = await seen(`/fn/${slug}~pr-${prNumber}/`);
    const production = await seen(`/fn/${slug}/`);
    assert.equal(preview.version, "preview");
    assert.notEqual(preview.key, production.key, "each deployment has its own key");

    const refused = await execute(preview.key);
    assert.equal(refused.status, 403, await refused.text());
    const own = await fetch(`${stack.gatewayUrl}/fn/${slug}~pr-${prNumber}/`, { headers: bearer(preview.key) });
    assert.equal(own.status, 200, "the preview's key calls the preview");
    assert.equal(((await own.json()) as { version: string }).version, "preview");
    const productionUrl = await fetch(`${stack.gatewayUrl}/fn/${slug}/`, { headers: bearer(preview.key) });
    assert.equal(productionUrl.status, 403, "nor production's URL");
    await productionUrl.arrayBuffer();
    const listed = await fetch(`${stack.gatewayUrl}/v1/functions/${slug}/executions`, { headers: bearer(preview.key) });
    assert.equal(listed.status, 403, "nor read production's executions");
    await listed.arrayBuffer();
    const event = await fetch(`${stack.gatewayUrl}/v1/events`, { method: "POST", headers: { ...bearer(preview.key), "content-type": "application/json" }, body: JSON.stringify({ name: "orders.created" }) });
    assert.equal(event.status, 403, "nor publish events, which run production functions");
    await event.arrayBuffer();

    const allowed = await execute(production.key);
    assert.equal(allowed.status, 201, "production's key runs production");
    const execution = (await allowed.json()) as { status: string; response?: { body?: string } };
    assert.equal(execution.status, "completed");
  });

  test("/d/<id>/ of a server-only function refuses a call without a token before starting anything", async () => {
    const retired = (await seen(`/fn/${slug}/`)).deploymentId;
    await push("production v2");
    const docker = new Docker();
    const running = () => docker.listContainers({ filters: { label: [`slipway.deployment=${retired}`] } });
    // v1 retires after the grace period (5 s in tests).
    await stack.emulator.waitFor(async () => (await running()).length === 0, { timeoutMs: 60_000, intervalMs: 250 });

    const anonymous = await fetch(`${stack.gatewayUrl}/d/${retired}/`);
    assert.equal(anonymous.status, 401, await anonymous.text());
    const forged = await fetch(`${stack.gatewayUrl}/d/${retired}/`, { headers: bearer(`slw_${randomUUID().replaceAll("-", "")}`) });
    assert.equal(forged.status, 401, await forged.text());
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.deepEqual(await running(), [], "no container was started for a refused call");

    const operator = await fetch(`${stack.gatewayUrl}/d/${retired}/`, { headers: bearer(server) });
    assert.equal(operator.status, 200, "a server key still reaches the retired version");
    assert.equal(((await operator.json()) as { version: string }).version, "production v1");
  });
});
