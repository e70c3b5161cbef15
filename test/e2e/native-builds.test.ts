// Issue 16: functions that compile native code build through the normal push path and answer
// through the gateway, in runtime containers that run as uid 10001 on a read-only root:
//   - a Node function with its own C++ addon, compiled by node-gyp against node-addon-api;
//   - a Python function using PyYAML's C extension, built from its sdist against libyaml,
//     which `build.packages: [libyaml-dev]` installs (and whose run-time library,
//     libyaml-0.so.2, the image lacks: the build ships it in .slipway-packages/lib);
//   - a Rust function using reqwest with native-tls, so OpenSSL is compiled against and
//     loaded at run time.
// A second push of the Python function installs its packages from the cache, downloading none.
//
// SLIPWAY_TEST_RUNTIME_TAG=<tag>: see test/support/runtimes-file.ts.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { runtimesFile } from "../support/runtimes-file.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const owner = "native";
const repoName = "builds";

const files: Record<string, string> = {
  "slipway.yml": `functions:
  - id: addon-node
    runtime: node-20
    root: node
    execute: any
  - id: yaml-python
    runtime: python-3.13
    root: python
    execute: any
    build:
      packages: [libyaml-dev]
  - id: tls-rust
    runtime: rust-1.85
    root: rust
    execute: any
`,
  "node/package.json": JSON.stringify(
    { name: "addon-node", version: "1.0.0", type: "module", gypfile: true, scripts: { install: "node-gyp rebuild" }, dependencies: { "node-addon-api": "8.3.1" } },
    null,
    2,
  ),
  "node/binding.gyp": `{
  "targets": [{
    "target_name": "native",
    "sources": ["native.cc"],
    "include_dirs": ["<!(node -p \\"require('node-addon-api').include_dir\\")"],
    "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS"]
  }]
}
`,
  "node/native.cc": `#include <napi.h>
#include <string>

static Napi::Value Checksum(const Napi::CallbackInfo& info) {
  std::string text = info[0].As<Napi::String>().Utf8Value();
  uint32_t hash = 2166136261u;  // FNV-1a
  for (unsigned char c : text) { hash ^= c; hash *= 16777619u; }
  return Napi::Number::New(info.Env(), hash);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("checksum", Napi::Function::New(env, Checksum));
  exports.Set("compiler", Napi::String::New(env, __VERSION__));
  return exports;
}

NODE_API_MODULE(native, Init)
`,
  "node/index.js": `import { createRequire } from "node:module";
const native = createRequire(import.meta.url)("./build/Release/native.node");

export default async ({ req, res }) => {
  const text = req.query.text ?? "";
  return res.json({ text, checksum: native.checksum(text), compiledBy: native.compiler.startsWith("1") ? "g++" : native.compiler });
};
`,
  "python/requirements.txt": "--no-binary pyyaml\npyyaml==6.0.2\n",
  "python/main.py": `import yaml


def main(context):
    document = yaml.load(context.req.body_text or "a: [1, 2]", Loader=yaml.CSafeLoader)
    return context.res.json({"libyaml": yaml.__with_libyaml__, "document": document, "extension": yaml._yaml.__file__.rsplit("/", 1)[-1].split(".")[0]})
`,
  "rust/Cargo.toml": `[package]
name = "tls-rust"
version = "0.1.0"
edition = "2021"

[dependencies]
openruntimes = { package = "openruntimes-types-for-rust", version = "1" }
serde_json = "1"
reqwest = { version = "0.12", default-features = false, features = ["native-tls", "blocking"] }
openssl = "0.10"
`,
  "rust/src/lib.rs": `use openruntimes::{Context, Response};
use serde_json::json;

pub fn main(context: Context) -> Response {
    // Building the client sets up OpenSSL's TLS context: libssl is loaded and used here.
    let client = reqwest::blocking::Client::builder().use_native_tls().build();
    context.res.json(json!({
        "client": client.is_ok(),
        "openssl": openssl::version::version(),
    }), None, None)
}
`,
};

describe("native builds", { timeout: 40 * 60_000 }, () => {
  let stack: SlipwayStack;

  before(async () => {
    stack = await startSlipwayStack({ env: { SLIPWAY_BUILD_CPUS: "2", ...(await runtimesFile(process.env.SLIPWAY_TEST_RUNTIME_TAG)) } });
  });

  after(async () => {
    if (stack) {
      assert.deepEqual(stack.emulator.validationErrors, []);
      await stack.stop();
    }
  });

  const finished = (name: string, count = 1) =>
    stack.emulator.waitFor(
      () => {
        const runs = stack.emulator.checkRuns(owner, repoName).filter((r) => r.name === `slipway / ${name}` && r.status === "completed");
        return runs.length >= count ? runs[count - 1] : undefined;
      },
      { timeoutMs: 30 * 60_000, intervalMs: 500 },
    );
  const url = (name: string) => `${stack.gatewayUrl}/fn/${name}~${repoName}~${owner}/`;

  test("a node-gyp addon, a C extension from an sdist with build.packages, and reqwest with OpenSSL all build and answer", async () => {
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 1616 });
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: "native code" });
    const pushed = await deliverWebhook({
      url: stack.webhookUrl,
      event: "push",
      payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: "native code" }),
      secret: stack.webhookSecret,
    });
    assert.equal(pushed.status, 202);

    const node = await finished("addon-node");
    assert.equal(node.conclusion, "success", `${node.output?.summary ?? ""}\n${node.output?.text ?? ""}`);
    const addon = await fetch(`${url("addon-node")}?text=slipway`);
    assert.equal(addon.status, 200);
    // FNV-1a of "slipway", computed here the same way.
    let hash = 2166136261;
    for (const c of Buffer.from("slipway")) hash = Math.imul(hash ^ c, 16777619) >>> 0;
    assert.deepEqual(await addon.json(), { text: "slipway", checksum: hash, compiledBy: "g++" });

    const python = await finished("yaml-python");
    assert.equal(python.conclusion, "success", `${python.output?.summary ?? ""}\n${python.output?.text ?? ""}`);
    assert.match(python.output?.text ?? "", /shipped in \.slipway-packages\/lib for run time/);
    const yaml = await fetch(url("yaml-python"), { method: "POST", body: "name: ada\nlanguages: [c, yaml]\n" });
    assert.equal(yaml.status, 200);
    assert.deepEqual(await yaml.json(), { libyaml: true, document: { name: "ada", languages: ["c", "yaml"] }, extension: "_yaml" });

    const rust = await finished("tls-rust");
    assert.equal(rust.conclusion, "success", `${rust.output?.summary ?? ""}\n${rust.output?.text ?? ""}`);
    const tls = await fetch(url("tls-rust"));
    assert.equal(tls.status, 200);
    const body = (await tls.json()) as { client: boolean; openssl: string };
    assert.equal(body.client, true);
    assert.match(body.openssl, /^OpenSSL 3\./);

    // A one-line change: the packages come from the function's cache, nothing is downloaded.
    const second = await stack.emulator.commit({ owner, repo: repoName, files: { "python/main.py": `${files["python/main.py"]}# v2\n` }, message: "one line" });
    await deliverWebhook({
      url: stack.webhookUrl,
      event: "push",
      payload: pushPayload({ repo, before: second.before, after: second.sha, message: "one line" }),
      secret: stack.webhookSecret,
    });
    const again = await finished("yaml-python", 2);
    assert.equal(again.conclusion, "success", `${again.output?.summary ?? ""}\n${again.output?.text ?? ""}`);
    const log = again.output?.text ?? "";
    const install = log.slice(log.indexOf("[slipway] Installing build.packages"), log.indexOf("[slipway] build.packages installed"));
    assert.match(install, /Using the cached package lists\./);
    assert.match(install, /libyaml-dev/);
    assert.doesNotMatch(install, /^Get:\d+ /m, "the second build downloaded packages again");
    assert.equal((await (await fetch(url("yaml-python"), { method: "POST", body: "x: 1" })).json() as { libyaml: boolean }).libyaml, true);
  });
});
