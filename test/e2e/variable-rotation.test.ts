// Issue 6: rotating the master key that encrypts variables, end to end and in the README's
// order. Variables set under key A; every process restarted with B current and A previous;
// `slipway variables rotate` (the real command line) re-encrypts the rows under B; every
// process restarted with B alone; and a new deployment, built and run under B only, still
// gets every value, which no process log ever shows.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { upsertRepository } from "../../src/store/repositories.js";
import { decodeMasterKey, masterKeyId } from "../../src/variables/master-keyring.js";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type ProcessName, type SlipwayStack } from "../support/start-slipway-stack.js";

const run = promisify(execFile);
const slipwayBin = fileURLToPath(new URL("../../bin/slipway.js", import.meta.url));
const owner = "acme";
const repoName = "rotating";
const installationId = 7171;
const slug = `echo~${repoName}~${owner}`;

const keyA = randomBytes(32).toString("hex");
// Base64, the other accepted spelling, so both are exercised.
const keyB = randomBytes(32).toString("base64");
const keyIdA = masterKeyId(decodeMasterKey(keyA)!);
const keyIdB = masterKeyId(decodeMasterKey(keyB)!);
const values = {
  PROJECT_SECRET: `project-${randomBytes(8).toString("hex")}`,
  FN_SECRET: `function-${randomBytes(8).toString("hex")}`,
  LATE_SECRET: `late-${randomBytes(8).toString("hex")}`,
};

const slipwayYml = `functions:
  - id: echo
    runtime: node-20
    root: fn
    commands: "for name in PROJECT_SECRET FN_SECRET LATE_SECRET; do if printenv $name > /dev/null; then echo $name; fi; done > at-build.txt"
    execute: any
`;

const handler = (version: string) => `const fs = require("node:fs");
module.exports = async (context) => context.res.json({
  version: ${JSON.stringify(version)},
  PROJECT_SECRET: process.env.PROJECT_SECRET ?? null,
  FN_SECRET: process.env.FN_SECRET ?? null,
  LATE_SECRET: process.env.LATE_SECRET ?? null,
  atBuild: fs.readFileSync(__dirname + "/at-build.txt", "utf8").split("\\n").filter(Boolean),
});
`;

type Echo = { version: string; PROJECT_SECRET: string | null; FN_SECRET: string | null; LATE_SECRET: string | null; atBuild: string[] };
type VariableRow = { name: string; key_id: string; iv: Buffer; ciphertext: Buffer; auth_tag: Buffer };

describe("master key rotation", { timeout: 15 * 60_000 }, () => {
  let stack: SlipwayStack;
  let repo: Awaited<ReturnType<SlipwayStack["emulator"]["createRepo"]>>;
  let functionId: string;
  let token = "";
  const cliOutput: string[] = [];

  // The real command line, as an operator runs it; `env` adds to what every call gets.
  async function cli(args: string[], options: { env?: Record<string, string>; stdin?: string } = {}) {
    const env = { PATH: process.env.PATH ?? "", DATABASE_URL: stack.env.DATABASE_URL!, SLIPWAY_API_URL: stack.appUrl, ...(token ? { SLIPWAY_TOKEN: token } : {}), ...options.env };
    const child = run(process.execPath, [slipwayBin, ...args], { env });
    child.child.stdin?.end(options.stdin ?? "");
    const result = await child.then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
    );
    cliOutput.push(result.stdout, result.stderr);
    return result;
  }

  async function setVariable(scope: string, name: keyof typeof values) {
    const result = await cli(["variables", "set", scope, name], { stdin: `${values[name]}\n` });
    assert.equal(result.code, 0, result.stderr);
  }

  // Every process stopped, then started again with the settings as they are now.
  async function restartEveryProcess() {
    const names: ProcessName[] = ["worker", "app", "gateway"];
    for (const name of names) await stack.kill(name);
    // The gateway applies migrations, so it starts first, as in startSlipwayStack.
    for (const name of [...names].reverse()) await stack.spawnRole(name);
  }

  async function push(version: string) {
    const files = { "slipway.yml": slipwayYml, "fn/index.js": handler(version), "fn/package.json": JSON.stringify({ name: "fn", private: true }) };
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: version });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: version }), secret: stack.webhookSecret, deliveryId: randomUUID() });
    return commit.sha;
  }

  async function served(version: string): Promise<Echo> {
    return stack.emulator.waitFor(
      async () => {
        const response = await fetch(`${stack.gatewayUrl}/fn/${slug}/`);
        const body = response.status === 200 ? ((await response.json()) as Echo) : null;
        return body?.version === version ? body : undefined;
      },
      { timeoutMs: 8 * 60_000, intervalMs: 500, message: `${version} serves`, describe: () => stack.logs().slice(-4000) },
    );
  }

  const variableRows = async () =>
    (await stack.db.query<VariableRow>("select name, key_id, iv, ciphertext, auth_tag from variables order by name")).rows;

  before(async () => {
    stack = await startSlipwayStack({ env: { SLIPWAY_MASTER_KEY: keyA } });
    repo = await stack.emulator.createRepo({ owner, name: repoName, installationId });
    await upsertRepository(stack.db, { id: repo.id, installationId, owner, name: repoName, cloneUrl: repo.clone_url, defaultBranch: "main" });
    const created = await cli(["token", "create", "--name", "operator"]);
    assert.equal(created.code, 0, created.stderr);
    token = created.stdout.split("\n")[0]!.trim();
    assert.match(token, /^slw_/);

    // Under key A: a project-level variable, the first deployment, then a function-level one.
    await setVariable(`${owner}/${repoName}`, "PROJECT_SECRET");
    await push("v1");
    const first = await served("v1");
    assert.equal(first.PROJECT_SECRET, values.PROJECT_SECRET);
    functionId = (await stack.db.query<{ id: string }>("select id from functions")).rows[0]!.id;
    await setVariable(functionId, "FN_SECRET");
  });

  after(async () => {
    if (process.env.SLIPWAY_TEST_LOG_FILE && stack) (await import("node:fs")).writeFileSync(process.env.SLIPWAY_TEST_LOG_FILE, stack.logs());
    if (stack) await stack.stop();
  });

  test("the README's steps: new key current and old key previous, `slipway variables rotate`, then the old key dropped", async () => {
    const underA = await variableRows();
    assert.deepEqual(underA.map((row) => [row.name, row.key_id]), [["FN_SECRET", keyIdA], ["PROJECT_SECRET", keyIdA]]);

    // 1. Every process starts with B current and A previous: both decrypt, B encrypts.
    stack.env.SLIPWAY_MASTER_KEY = keyB;
    stack.env.SLIPWAY_MASTER_KEY_PREVIOUS = keyA;
    await restartEveryProcess();
    assert.equal((await served("v1")).PROJECT_SECRET, values.PROJECT_SECRET, "v1 still serves across the restart");
    await setVariable(functionId, "LATE_SECRET");
    assert.deepEqual((await variableRows()).map((row) => [row.name, row.key_id]), [["FN_SECRET", keyIdA], ["LATE_SECRET", keyIdB], ["PROJECT_SECRET", keyIdA]]);
    const beforeRotation = new Map((await variableRows()).map((row) => [row.name, row]));

    // Without the old key the command cannot read the old rows: it says which key is missing
    // and how to give it, and rewrites nothing.
    const withoutPrevious = await cli(["variables", "rotate"], { env: { SLIPWAY_MASTER_KEY: keyB } });
    assert.equal(withoutPrevious.code, 1, withoutPrevious.stdout);
    assert.match(withoutPrevious.stderr, new RegExp(`master key ${keyIdA}.*SLIPWAY_MASTER_KEY_PREVIOUS`));
    assert.deepEqual((await variableRows()).map((row) => row.key_id), [keyIdA, keyIdB, keyIdA]);

    // 2. The rotate command, with the database and both keys, as the operator runs it.
    const rotateEnv = { SLIPWAY_MASTER_KEY: keyB, SLIPWAY_MASTER_KEY_PREVIOUS: keyA };
    const rotated = await cli(["variables", "rotate"], { env: rotateEnv });
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.equal(rotated.stdout.trim(), `Re-encrypted 2 variable(s) under key ${keyIdB}.`);
    const afterRotation = await variableRows();
    for (const row of afterRotation) {
      assert.equal(row.key_id, keyIdB, `${row.name} is under key B`);
      const text = Buffer.concat([row.iv, row.ciphertext, row.auth_tag]).toString("latin1");
      for (const value of Object.values(values)) assert.ok(!text.includes(value), `${row.name}'s row holds no plaintext`);
    }
    for (const name of ["FN_SECRET", "PROJECT_SECRET"]) {
      const old = beforeRotation.get(name)!;
      const now = afterRotation.find((row) => row.name === name)!;
      assert.ok(!now.ciphertext.equals(old.ciphertext), `${name}'s ciphertext changed`);
      assert.ok(!now.iv.equals(old.iv), `${name} has a new IV`);
    }
    const late = afterRotation.find((row) => row.name === "LATE_SECRET")!;
    assert.ok(late.ciphertext.equals(beforeRotation.get("LATE_SECRET")!.ciphertext), "a row already under B is left alone");
    // Safe to run again: nothing is left under the old key.
    const again = await cli(["variables", "rotate"], { env: rotateEnv });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), `Re-encrypted 0 variable(s) under key ${keyIdB}.`);

    // 3. The old key dropped: every process runs with B alone.
    delete stack.env.SLIPWAY_MASTER_KEY_PREVIOUS;
    await restartEveryProcess();

    // A new deployment is built and started under B alone and gets every value.
    await push("v2");
    const second = await served("v2");
    assert.equal(second.PROJECT_SECRET, values.PROJECT_SECRET);
    assert.equal(second.FN_SECRET, values.FN_SECRET);
    assert.equal(second.LATE_SECRET, values.LATE_SECRET);
    assert.deepEqual(second.atBuild, ["PROJECT_SECRET", "FN_SECRET", "LATE_SECRET"], "and the build had them too");
    // An execution through the executions API runs the new deployment with them as well.
    const response = await fetch(`${stack.gatewayUrl}/v1/functions/${functionId}/executions`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({}),
    });
    assert.equal(response.status, 201);
    const execution = (await response.json()) as { status: string; responseBody: string };
    assert.equal(execution.status, "completed", JSON.stringify(execution));
    const executed = JSON.parse(execution.responseBody) as Echo;
    assert.equal(executed.version, "v2");
    assert.deepEqual([executed.PROJECT_SECRET, executed.FN_SECRET, executed.LATE_SECRET], [values.PROJECT_SECRET, values.FN_SECRET, values.LATE_SECRET]);

    // No value and no key in any process's log or in what the command line printed.
    const printed = `${stack.logs()}\n${cliOutput.join("\n")}`;
    for (const [name, value] of Object.entries(values)) assert.ok(!printed.includes(value), `${name}'s value reaches no log`);
    for (const key of [keyA, keyB]) assert.ok(!printed.includes(key), "no master key reaches a log");
  });
});
