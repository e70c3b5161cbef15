// The nginx data plane's pure parts: the configuration it renders (which nginx itself must
// accept), the route files it writes (which refuse values that could change their meaning)
// and the access-log lines it reads back (each outcome, and a line cut short).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { findJsModule, parseCallLine, renderNginxConfig, routeLine, type FastRoute } from "../../src/gateway/nginx-data-plane.js";

const route: FastRoute = {
  key: "hello--repo--acme",
  functionId: "9b2f3c1e-0d4a-4f6b-8c7d-1e2f3a4b5c6d",
  deploymentId: "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
  containerId: "f".repeat(64),
  upstream: "127.0.0.1:49153",
  runtimeSecret: "a".repeat(64),
  timeoutSeconds: 7,
  executionKey: "slw_" + "K".repeat(43),
  needsToken: false,
};

const runtimes = { runtimeHost: "127.0.0.1", runtimePorts: { from: 49100, to: 49199 } };
const render = (dir = "/tmp/x") => renderNginxConfig({ workers: "1", dir, host: "127.0.0.1", port: 3002, gatewayPort: 40000, jsModule: findJsModule("auto"), maxRequestMb: 20, ...runtimes });

describe("nginx data plane", () => {
  test("the configuration is one nginx accepts, looks each call's route up in its route file, and has a location per timeout and kind", async () => {
    const nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((path) => existsSync(path));
    assert.ok(nginx, "nginx is installed (scripts/setup.sh installs it)");
    const dir = await mkdtemp(join(tmpdir(), "slipway-nginx-conf-"));
    try {
      const text = render(dir);
      assert.match(text, /^load_module "\/.*ngx_http_js_module\.so";/m);
      assert.match(text, /js_set \$slipway_pool slipway\.pool;/);
      assert.equal(text.match(/upstream slipway_runtime_\d+ \{ server 127\.0\.0\.1:\d+; keepalive 64; \}/g)?.length, 100, "a pool of kept-alive connections per runtime port");
      assert.match(text, /location \/fn\/ \{/);
      assert.match(text, /client_max_body_size 20m;/, "a call's body is bounded");
      assert.match(text, /error_page 413 @slipway_too_large;/, "and one over the bound is answered in JSON");
      assert.match(text, /location = \/\.slipway\/call\/open\/7 \{ internal; include call\.conf; proxy_read_timeout 7s; proxy_set_header x-open-runtimes-timeout "8"; \}/);
      assert.equal(text.match(/auth_request /g)?.length, 30, "only the 30 locations of routes that need a token ask the gateway");
      assert.doesNotMatch(text, /slw_|hello--repo/, "no route and no secret is in the configuration");
      await writeFile(join(dir, "nginx.conf"), text);
      await writeFile(join(dir, "call.conf"), "proxy_pass http://$slipway_upstream$slipway_fn_path;\n");
      await writeFile(join(dir, "routes.js"), "function f(r) { return ''; }\nexport default { kind: f, pool: f, upstream: f, functionId: f, deploymentId: f, containerId: f, timeout: f, secret: f, executionKey: f };\n");
      execFileSync(nginx, ["-t", "-q", "-p", dir, "-c", join(dir, "nginx.conf")], { stdio: "pipe" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a route file is one line of fields; a value that could split it or break a header is refused, not written", () => {
    assert.equal(
      routeLine(route, runtimes),
      `slipway-route-1 open slipway_runtime_49153 127.0.0.1:49153 ${route.functionId} ${route.deploymentId} ${route.containerId} 7 ${route.runtimeSecret} ${route.executionKey}\n`,
    );
    assert.match(routeLine({ ...route, needsToken: true }, runtimes), /^slipway-route-1 token /);
    assert.match(routeLine({ ...route, upstream: "127.0.0.1:50000" }, runtimes), /^slipway-route-1 open 127\.0\.0\.1:50000 127\.0\.0\.1:50000 /, "a port outside the range is called directly");
    assert.match(routeLine(route, { ...runtimes, runtimePorts: null }), /^slipway-route-1 open 127\.0\.0\.1:49153 /);
    assert.throws(() => routeLine({ ...route, executionKey: "slw_x 1" }, runtimes), /executionKey cannot be written/);
    assert.throws(() => routeLine({ ...route, runtimeSecret: "abc\r\nx-evil: 1" }, runtimes), /secret cannot be written/);
    assert.throws(() => routeLine({ ...route, key: "Hello/../x" }, runtimes), /route key .* cannot be/);
    assert.throws(() => routeLine({ ...route, timeoutSeconds: 31 }, runtimes), /timeout must be 1 to 30 s/);
  });

  test("access log lines become calls: answered, timed out by nginx, unreachable, and a cut-short line", () => {
    const line = (fields: Record<string, string>) =>
      `${JSON.stringify({ id: "99b3e59a-cc23-4de9-acf4-ab8d7fb99401", fn: route.functionId, dep: route.deploymentId, cid: route.containerId, to: "7", m: "POST", s: "200", lid: "", ht: "0.004", t: "0.005", at: "1795334507.896", p: "/a%20b?x=1", ...fields })}`;
    const answered = parseCallLine(line({ lid: "99b3e59a-cc23-4de9-acf4-ab8d7fb99401" }))!;
    assert.equal(answered.outcome, "answered");
    assert.equal(answered.statusCode, 200);
    assert.equal(answered.method, "POST");
    assert.equal(answered.path, "/a%20b?x=1");
    assert.equal(answered.logId, "99b3e59a-cc23-4de9-acf4-ab8d7fb99401");
    assert.equal(answered.durationMs, 5);
    assert.equal(answered.startedAt.getTime(), 1795334507891);
    assert.equal(parseCallLine(line({}))!.logId, null, "a quiet call names no log files");

    const timedOut = parseCallLine(line({ s: "504", ht: "-", t: "7.001" }))!;
    assert.equal(timedOut.outcome, "timed_out");
    assert.equal(timedOut.timeoutSeconds, 7);
    assert.equal(parseCallLine(line({ s: "504", ht: "0.010" }))!.outcome, "answered", "a function's own 504 is its answer");
    assert.equal(parseCallLine(line({ s: "502", ht: "-" }))!.outcome, "unreachable");

    const whole = line({});
    assert.equal(parseCallLine(whole.slice(0, whole.length - 10)), null);
    assert.equal(parseCallLine("not json"), null);
  });
});
