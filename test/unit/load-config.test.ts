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
    assert.match(error.message, /SLIPWAY_BUILD_PROXY: must be an http:\/\/ or https:\/\/ URL/);
    assert.doesNotMatch(error.message, /hunter2/);
    return true;
  });
});
