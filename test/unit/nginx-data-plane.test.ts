// The nginx data plane's two pure halves: the configuration it renders (which nginx itself
// must accept, and which refuses values that could change its meaning) and the access-log
// lines it reads back (each outcome, and a line cut short).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parseCallLine, renderNginxConfig, type FastRoute } from "../../src/gateway/nginx-data-plane.js";

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

const render = (routes: FastRoute[], dir = "/tmp/x", apiUrl = "http://127.0.0.1:3002") =>
  renderNginxConfig({ workers: "1", dir, host: "127.0.0.1", port: 3002, gatewayPort: 40000, apiUrl, generation: 3, routes });

describe("nginx data plane", () => {
  test("the rendered configuration is one nginx accepts, with or without routes, with both locations and one upstream per deployment", async () => {
    const nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((path) => existsSync(path));
    assert.ok(nginx, "nginx is installed (scripts/setup.sh installs it)");
    const dir = await mkdtemp(join(tmpdir(), "slipway-nginx-conf-"));
    try {
      const text = render([route, { ...route, key: "hello--repo--acme--pr-4", needsToken: true }], dir);
      assert.equal(text.match(/upstream slipway_1a2b3c4d/g)?.length, 1);
      assert.match(text, /location \/fn\/hello--repo--acme\/ \{/);
      assert.match(text, /location = \/fn\/hello--repo--acme \{/);
      assert.match(text, /proxy_read_timeout 7s;/);
      assert.match(text, /x-open-runtimes-timeout "8"/);
      assert.match(text, new RegExp(`if \\(-f ${dir}/handover/hello--repo--acme\\) \\{ return 418; \\}`), "a handed-over route goes to the gateway");
      assert.equal(text.match(/auth_request \/\.slipway\/authorize\/hello--repo--acme--pr-4;/g)?.length, 2, "the route that needs a token asks the gateway, in both its locations");
      assert.equal(text.match(/auth_request /g)?.length, 2, "the public one does not");
      await writeFile(join(dir, "nginx.conf"), text);
      execFileSync(nginx, ["-t", "-q", "-p", dir, "-c", join(dir, "nginx.conf")], { stdio: "pipe" });
      // A gateway with no route yet starts nginx with this one.
      await writeFile(join(dir, "nginx.conf"), render([], dir));
      execFileSync(nginx, ["-t", "-q", "-p", dir, "-c", join(dir, "nginx.conf")], { stdio: "pipe" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a value that could change the configuration's meaning is refused, not written", () => {
    assert.throws(() => render([{ ...route, executionKey: 'slw_x"; return 200 "owned' }]), /an execution key cannot be written/);
    assert.throws(() => render([{ ...route, runtimeSecret: "abc$host" }]), /a runtime secret cannot be written/);
    assert.throws(() => render([route], "/tmp/x", "http://evil/;}"), /the public URL cannot be written/);
    assert.throws(() => render([{ ...route, key: "Hello/../x" }]), /route key .* cannot be written/);
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
