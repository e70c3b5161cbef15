// Issue 3's end-to-end promise: one push deploys a Node, a Python and a Rust function
// (Appwrite-style, written against the open-runtimes v5 API of each language), and each
// answers through the gateway. The Rust one is built with `cargo build --release`.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "polyglot";
const repoName = "functions";

const files: Record<string, string> = {
  "slipway.yml": `functions:
  - id: greet-node
    runtime: node-20
    root: node
    execute: any
  - id: greet-python
    runtime: python-3.13
    root: python
    execute: any
  - id: greet-rust
    runtime: rust-1.85
    root: rust
    execute: any
`,
  "node/index.js": `export default async ({ req, res, log }) => {
  log("node saw " + req.method);
  return res.json({ runtime: "node", name: req.query.name ?? "nobody", method: req.method });
};
`,
  "node/package.json": JSON.stringify({ name: "greet-node", version: "1.0.0", type: "module" }),
  "python/main.py": `def main(context):
    context.log("python saw " + context.req.method)
    return context.res.json({"runtime": "python", "name": context.req.query.get("name", "nobody"), "method": context.req.method})
`,
  "python/requirements.txt": "",
  "rust/Cargo.toml": `[package]
name = "greet-rust"
version = "0.1.0"
edition = "2021"

[lib]
name = "handler"
path = "src/lib.rs"

[dependencies]
openruntimes = { package = "openruntimes-types-for-rust", version = "1" }
serde_json = "1"
`,
  "rust/src/lib.rs": `use openruntimes::{Context, Response};
use serde_json::json;

pub fn main(context: Context) -> Response {
    context.log("rust saw a request");
    let name = context.req.query.get("name").cloned().unwrap_or_else(|| "nobody".to_string());
    context.res.json(json!({ "runtime": "rust", "name": name, "method": context.req.method }), None, None)
}
`,
};

describe("one push, three runtimes", { timeout: 30 * 60_000 }, () => {
  let stack: SlipwayStack;

  before(async () => {
    stack = await startSlipwayStack({ env: { SLIPWAY_BUILD_CPUS: "2" } });
  });

  after(async () => {
    if (stack) {
      assert.deepEqual(stack.emulator.validationErrors, []);
      await stack.stop();
    }
  });

  test("Node, Python and Rust functions all go live and answer through the gateway", async () => {
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 5151 });
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: "three runtimes" });
    const response = await deliverWebhook({
      url: stack.webhookUrl,
      event: "push",
      payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: "three runtimes" }),
      secret: stack.webhookSecret,
    });
    assert.equal(response.status, 202);

    for (const runtime of ["node", "python", "rust"]) {
      const run = await stack.emulator.waitFor(
        () => stack.emulator.checkRuns(owner, repoName).find((r) => r.name === `slipway / greet-${runtime}` && r.status === "completed"),
        { timeoutMs: 25 * 60_000, intervalMs: 500 },
      );
      assert.equal(run.conclusion, "success", `${runtime}: ${run.output?.summary ?? ""}\n${run.output?.text ?? ""}`);
      const served = await fetch(`${stack.gatewayUrl}/fn/greet-${runtime}~${repoName}~${owner}/hello?name=ada`);
      assert.equal(served.status, 200);
      assert.deepEqual(await served.json(), { runtime, name: "ada", method: "GET" });
    }

    const rust = await stack.db.query("select artifact_size from deployments d join functions f on f.id = d.function_id where f.name = 'greet-rust'");
    assert.ok(Number(rust.rows[0].artifact_size) < 50 * 1024 * 1024, "the Rust artifact holds the release binary, not target/");
  });
});
