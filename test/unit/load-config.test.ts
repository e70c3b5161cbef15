import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { test } from "node:test";
import { ConfigError, loadConfig } from "../../src/config/load-config.js";

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 1024, privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
const valid = { APP_ID: "12", PRIVATE_KEY: privateKey, WEBHOOK_SECRET: "s3cret-value", SLIPWAY_GATEWAY_SECRET: "g".repeat(32) };

test("the app refuses to start without a webhook secret, app id and private key, naming each", () => {
  assert.throws(() => loadConfig("app", { SLIPWAY_GATEWAY_SECRET: "g".repeat(32) }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /APP_ID is required/);
    assert.match(error.message, /PRIVATE_KEY \(or PRIVATE_KEY_PATH\) is required/);
    assert.match(error.message, /WEBHOOK_SECRET is required/);
    return true;
  });
});

test("a bad value is named but never echoed", () => {
  assert.throws(() => loadConfig("all", { ...valid, DATABASE_URL: "not a url with hunter2", SLIPWAY_BUILD_MEMORY_MB: "lots" }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /DATABASE_URL/);
    assert.match(error.message, /SLIPWAY_BUILD_MEMORY_MB/);
    assert.doesNotMatch(error.message, /hunter2/);
    return true;
  });
});

test("a private key that is not PEM is refused without printing it", () => {
  assert.throws(() => loadConfig("worker", { ...valid, PRIVATE_KEY: "-----BEGIN nonsense" }), /PRIVATE_KEY is not a PEM private key/);
});

test("the gateway needs no GitHub credentials; defaults are applied", () => {
  const config = loadConfig("gateway", { SLIPWAY_GATEWAY_SECRET: "g".repeat(32) });
  assert.equal(config.github, undefined);
  assert.equal(config.SLIPWAY_BUILD_TIMEOUT_SECONDS, 900);
  assert.equal(config.publicUrl, "http://127.0.0.1:3002");
  const full = loadConfig("all", valid);
  assert.equal(full.github?.APP_ID, 12);
});

test("a build proxy must be an http(s) URL, and a bad one is not echoed", () => {
  assert.equal(loadConfig("worker", { ...valid, SLIPWAY_BUILD_PROXY: "http://proxy.internal:3128" }).SLIPWAY_BUILD_PROXY, "http://proxy.internal:3128");
  assert.throws(() => loadConfig("worker", { ...valid, SLIPWAY_BUILD_PROXY: "socks5://user:hunter2@proxy:1080" }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /SLIPWAY_BUILD_PROXY must be an http:\/\/ or https:\/\/ URL/);
    assert.doesNotMatch(error.message, /hunter2/);
    return true;
  });
});

test("a .env copied from .env.example gives every problem in plain words, with where each value comes from", () => {
  assert.throws(
    () => loadConfig("all", { APP_ID: "", PRIVATE_KEY_PATH: "/no/such/key.pem", WEBHOOK_SECRET: "", SLIPWAY_GATEWAY_SECRET: "", LOG_LEVEL: "loud", SLIPWAY_APP_PORT: "70000" } as unknown as NodeJS.ProcessEnv),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, [
        "LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent",
        "SLIPWAY_GATEWAY_SECRET is empty (any random string, e.g. `openssl rand -hex 24`; scripts/start.sh makes one)",
        "SLIPWAY_APP_PORT must be a number of at most 65535",
        "PRIVATE_KEY_PATH=/no/such/key.pem: there is no such file (the private key downloaded from the GitHub App's settings page)",
        "APP_ID is empty (the GitHub App's id, from its settings page)",
        "WEBHOOK_SECRET is empty (the webhook secret set on the GitHub App's settings page)",
      ]);
      assert.doesNotMatch(error.message, /Too small|Too big|Invalid|expected/, "no zod wording");
      return true;
    },
  );
  assert.throws(() => loadConfig("app", { ...valid, APP_ID: "0" }), /APP_ID must be a number greater than 0 \(the GitHub App's id, from its settings page\)/);
  assert.throws(() => loadConfig("app", { ...valid, APP_ID: "twelve" }), /APP_ID must be a number \(/);
});

test("the console's sign-in with GitHub needs the client id and secret together; the secret is never echoed", () => {
  assert.throws(() => loadConfig("app", { ...valid, GITHUB_CLIENT_SECRET: "client-secret-hunter2" }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET go together/);
    assert.doesNotMatch(error.message, /hunter2/);
    return true;
  });
  const config = loadConfig("app", { ...valid, GITHUB_CLIENT_ID: "Iv1.abc", GITHUB_CLIENT_SECRET: "client-secret" });
  assert.equal(config.github?.GITHUB_CLIENT_ID, "Iv1.abc");
  assert.equal(loadConfig("app", valid).github?.GITHUB_CLIENT_ID, undefined, "unset: the console takes API tokens only");
});

test("the runtime pool's size is a count for every runtime or name=count pairs, and anything else is refused", () => {
  const gateway = (value?: string) => loadConfig("gateway", { SLIPWAY_GATEWAY_SECRET: "g".repeat(32), ...(value === undefined ? {} : { SLIPWAY_RUNTIME_POOL_SIZE: value }) });
  assert.deepEqual(gateway().SLIPWAY_RUNTIME_POOL_SIZE, { all: 1, byRuntime: null });
  assert.deepEqual(gateway("0").SLIPWAY_RUNTIME_POOL_SIZE, { all: 0, byRuntime: null });
  assert.deepEqual(gateway("node-20=2,python-3.13=1").SLIPWAY_RUNTIME_POOL_SIZE, { all: 0, byRuntime: { "node-20": 2, "python-3.13": 1 } });
  assert.equal(gateway().SLIPWAY_RUNTIME_POOL_MEMORY_MB, 1024);
  assert.equal(gateway().SLIPWAY_RUNTIME_POOL_IDLE_SECONDS, 3600);
  for (const bad of ["lots", "-1", "node-20:2", "node-20=2,", "node-20=many"]) {
    assert.throws(() => gateway(bad), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /SLIPWAY_RUNTIME_POOL_SIZE.*must be a count \(0-99\) or name=count pairs/);
      return true;
    }, bad);
  }
});

test("a gateway node is named after its host and port unless told; its liveness settings must make sense together", () => {
  const config = loadConfig("gateway", { SLIPWAY_GATEWAY_SECRET: "g".repeat(32), SLIPWAY_GATEWAY_PORT: "3105" });
  assert.match(config.gatewayNodeId, /^.+:3105$/);
  assert.match(config.gatewayNodeUrl, /^http:\/\/.+:3105$/);
  const named = loadConfig("gateway", { SLIPWAY_GATEWAY_SECRET: "g".repeat(32), SLIPWAY_GATEWAY_NODE_ID: "edge-a", SLIPWAY_GATEWAY_NODE_URL: "http://edge-a.internal:3002/" });
  assert.equal(named.gatewayNodeId, "edge-a");
  assert.equal(named.gatewayNodeUrl, "http://edge-a.internal:3002");
  assert.throws(() => loadConfig("gateway", { SLIPWAY_GATEWAY_SECRET: "g".repeat(32), SLIPWAY_GATEWAY_NODE_ID: "edge a" }), /SLIPWAY_GATEWAY_NODE_ID/);
  assert.throws(
    () => loadConfig("gateway", { SLIPWAY_GATEWAY_SECRET: "g".repeat(32), SLIPWAY_GATEWAY_HEARTBEAT_SECONDS: "10", SLIPWAY_GATEWAY_NODE_TTL_SECONDS: "10" }),
    /SLIPWAY_GATEWAY_NODE_TTL_SECONDS \(10\) must be longer than SLIPWAY_GATEWAY_HEARTBEAT_SECONDS \(10\)/,
  );
  assert.throws(
    () => loadConfig("gateway", { SLIPWAY_GATEWAY_SECRET: "g".repeat(32), SLIPWAY_GATEWAY_NODE_LOST_SECONDS: "5" }),
    /SLIPWAY_GATEWAY_NODE_LOST_SECONDS \(5\) must be at least SLIPWAY_GATEWAY_NODE_TTL_SECONDS \(10\)/,
  );
});

test("production runs on every gateway node and a preview on one unless told; a bad count says what to write", () => {
  const config = loadConfig("gateway", { SLIPWAY_GATEWAY_SECRET: "g".repeat(32) });
  assert.equal(config.SLIPWAY_PRODUCTION_NODES, "all");
  assert.equal(config.SLIPWAY_PREVIEW_NODES, 1);
  const told = loadConfig("gateway", { SLIPWAY_GATEWAY_SECRET: "g".repeat(32), SLIPWAY_PRODUCTION_NODES: "2", SLIPWAY_PREVIEW_NODES: "all" });
  assert.equal(told.SLIPWAY_PRODUCTION_NODES, 2);
  assert.equal(told.SLIPWAY_PREVIEW_NODES, "all");
  for (const bad of ["0", "-1", "two", "1.5"]) {
    assert.throws(() => loadConfig("gateway", { SLIPWAY_GATEWAY_SECRET: "g".repeat(32), SLIPWAY_PREVIEW_NODES: bad }), /SLIPWAY_PREVIEW_NODES.*must be "all" or a number of gateway nodes from 1/s, bad);
  }
});

test("the sandbox bridges keep their names unless told; a name Linux would refuse is refused, saying why", () => {
  const config = loadConfig("all", valid);
  assert.equal(config.SLIPWAY_BUILD_BRIDGE, "slipway-build");
  assert.equal(config.SLIPWAY_RUNTIME_BRIDGE, "slipway-runtime");
  const second = loadConfig("all", { ...valid, SLIPWAY_BUILD_BRIDGE: "slw-b-node2", SLIPWAY_RUNTIME_BRIDGE: "slw-r-node2" });
  assert.equal(second.SLIPWAY_BUILD_BRIDGE, "slw-b-node2");
  assert.equal(second.SLIPWAY_RUNTIME_BRIDGE, "slw-r-node2");
  assert.throws(() => loadConfig("all", { ...valid, SLIPWAY_RUNTIME_BRIDGE: "slipway-runtime-2" }), /SLIPWAY_RUNTIME_BRIDGE.*1-15 letters/);
  assert.throws(() => loadConfig("all", { ...valid, SLIPWAY_BUILD_BRIDGE: "has space" }), /SLIPWAY_BUILD_BRIDGE/);
  assert.throws(() => loadConfig("all", { ...valid, SLIPWAY_BUILD_BRIDGE: "same0", SLIPWAY_RUNTIME_BRIDGE: "same0" }), /SLIPWAY_BUILD_BRIDGE and SLIPWAY_RUNTIME_BRIDGE must differ/);
});
