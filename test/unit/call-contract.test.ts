// The open-runtimes call contract is written once (src/runtime-contract/call-contract.ts);
// these check that its three users agree with it: the gateway's Node proxy, the nginx data
// plane's call.conf and call locations, and queued executions.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { functionUrlCallHeaders } from "../../src/gateway/function-url-call-headers.js";
import { callDirectives, findJsModule, renderNginxConfig } from "../../src/gateway/nginx-data-plane.js";
import { queuedCallHeaders } from "../../src/executions/run-execution.js";
import {
  callHeaderNames,
  clearedHeaderNames,
  executionTimeoutSeconds,
  forwardedCallHeader,
  runtimeCallHeaders,
  runtimeTimeoutSeconds,
  syncTimeoutCeilingSeconds,
  timeoutHeader,
} from "../../src/runtime-contract/call-contract.js";

const sample = {
  secret: "s".repeat(64),
  executionId: "0f6c2a8e-3b1d-4c5e-9f7a-2b3c4d5e6f70",
  functionId: "9b2f3c1e-0d4a-4f6b-8c7d-1e2f3a4b5c6d",
  key: "slw_" + "K".repeat(43),
  apiUrl: "https://slipway.example.com",
  host: "fn.example.com",
};

/** Headers a client may try to forge: every one the contract names, and others under its prefixes. */
const forged: Record<string, string> = {
  ...Object.fromEntries(callHeaderNames.filter((name) => name !== "x-forwarded-host").map((name) => [name, "forged"])),
  "x-open-runtimes-other": "forged",
  "x-slipway-other": "forged",
  "x-appwrite-other": "forged",
  [forwardedCallHeader]: "forged",
};

/** What nginx sends for the sample call: call.conf's header lines with the sample's values for nginx's variables ("" sends none). */
function nginxHeaders(conf: string): Map<string, string> {
  const variables: Record<string, string> = {
    $http_host: sample.host,
    $slipway_secret: sample.secret,
    $slipway_execution_id: sample.executionId,
    $slipway_function: sample.functionId,
    $slipway_execution_key: sample.key,
  };
  const set = new Map<string, string>();
  for (const [, name, raw] of conf.matchAll(/^proxy_set_header (\S+) (.+);$/gm)) {
    if (name === "Host" || name === "Connection") continue;
    assert.ok(!set.has(name!), `call.conf sets ${name} once`);
    const value = raw!.startsWith('"') ? raw!.slice(1, -1) : variables[raw!];
    assert.ok(value !== undefined, `call.conf's value for ${name} (${raw}) is a literal or a variable the test knows`);
    set.set(name!, value);
  }
  return set;
}

describe("the open-runtimes call contract", () => {
  test("nginx's call.conf names exactly the contract's headers, with the contract's values for a function-URL call", () => {
    const set = nginxHeaders(callDirectives(sample.apiUrl));
    assert.deepEqual([...set.keys()].sort(), clearedHeaderNames.filter((name) => name !== timeoutHeader).sort(), "every header the contract names, and no other");
    assert.equal(set.get(forwardedCallHeader), "", "a gateway's forwarding header is cleared: the runtime never sees it");
    const sent = Object.fromEntries([...set].filter(([, value]) => value !== ""));
    const { [timeoutHeader]: _timeout, ...contract } = runtimeCallHeaders({ ...sample, forwardedHost: sample.host, trigger: "http", lazyLogFiles: true });
    assert.deepEqual(sent, contract);
    assert.ok([...set].some(([name, value]) => name === "x-appwrite-user-id" && value === ""), "a client's copy of a header the call does not set is cleared");
  });

  test("nginx's call locations enforce the timeout and tell the runtime one second more, for every timeout a function URL may have", () => {
    const text = renderNginxConfig({ workers: "1", dir: "/tmp/x", host: "127.0.0.1", port: 3002, gatewayPort: 40000, jsModule: findJsModule("auto"), maxRequestMb: 20, runtimeHost: "127.0.0.1", runtimePorts: null });
    const locations = [...text.matchAll(/location = \/\.slipway\/call\/(open|token)\/(\d+) \{.*proxy_read_timeout (\d+)s; proxy_set_header (\S+) "(\d+)"; \}/g)];
    assert.equal(locations.length, 2 * syncTimeoutCeilingSeconds);
    for (const [, , seconds, read, header, told] of locations) {
      assert.equal(read, seconds);
      assert.equal(header, timeoutHeader);
      assert.equal(Number(told), runtimeTimeoutSeconds(Number(seconds), "caller"));
      assert.ok(Number(told) > Number(read), "nginx's own timeout fires first");
    }
  });

  test("the Node proxy sends the same headers as nginx, the timeout left to the runtime, and drops the client's forged ones", () => {
    const headers = functionUrlCallHeaders({ ...forged, host: sample.host, connection: "keep-alive", "x-custom": "kept", authorization: "Bearer t" }, { ...sample, timeoutSeconds: 7 });
    const { [timeoutHeader]: timeout, "x-custom": custom, authorization, ...contract } = headers;
    assert.equal(timeout, "7", "the runtime enforces the timeout it is told");
    assert.equal(custom, "kept");
    assert.equal(authorization, "Bearer t", "a function URL's caller may send the function a token");
    const nginx = Object.fromEntries([...nginxHeaders(callDirectives(sample.apiUrl))].filter(([, value]) => value !== ""));
    assert.deepEqual(contract, nginx);
  });

  test("a queued execution sends the contract's headers for its trigger, and none of the client's platform headers or credentials", () => {
    const execution = { id: sample.executionId, functionId: sample.functionId, trigger: "event" as const, event: "users.create", request: { method: "POST", path: "/", headers: { ...forged, Authorization: "Bearer api", Host: "api", "X-Custom": "kept" }, body: "" } };
    const headers = queuedCallHeaders(execution, { secret: sample.secret, timeoutSeconds: 120, key: sample.key, apiUrl: sample.apiUrl });
    const { "x-custom": custom, ...contract } = headers;
    assert.equal(custom, "kept");
    assert.deepEqual(contract, runtimeCallHeaders({ ...sample, timeoutSeconds: 120, trigger: "event", event: "users.create", lazyLogFiles: false }));
    assert.equal(headers["x-appwrite-trigger"], "event");
    assert.equal(headers["x-appwrite-event"], "users.create");
    assert.equal(headers[timeoutHeader], "120");
    assert.ok(Object.values(headers).every((value) => value !== "forged"), "no forged value reaches the runtime");
  });

  test("a scheduled execution tells the function its schedule; a client's stored schedule header never does", () => {
    const stored = { method: "POST", path: "/", headers: { "x-slipway-schedule": "*/5 * * * *" }, body: "" };
    const call = { secret: sample.secret, timeoutSeconds: 60, key: sample.key, apiUrl: sample.apiUrl };
    const scheduled = queuedCallHeaders({ id: sample.executionId, functionId: sample.functionId, trigger: "schedule", event: null, request: stored }, call);
    assert.equal(scheduled["x-slipway-schedule"], "*/5 * * * *");
    assert.equal(scheduled["x-appwrite-trigger"], "schedule");
    const posed = queuedCallHeaders({ id: sample.executionId, functionId: sample.functionId, trigger: "async", event: null, request: stored }, call);
    assert.equal(posed["x-slipway-schedule"], undefined, "an async execution's client cannot pose as the scheduler");
  });

  test("a call someone waits on runs at most the sync ceiling; a queued one its own timeout", () => {
    assert.equal(executionTimeoutSeconds({ timeoutSeconds: 300 } as never, 15, "http"), syncTimeoutCeilingSeconds);
    assert.equal(executionTimeoutSeconds({ timeoutSeconds: 300 } as never, 15, "sync"), syncTimeoutCeilingSeconds);
    assert.equal(executionTimeoutSeconds({ timeoutSeconds: 300 } as never, 15, "async"), 300);
    assert.equal(executionTimeoutSeconds({} as never, 15, "schedule"), 15);
  });
});
