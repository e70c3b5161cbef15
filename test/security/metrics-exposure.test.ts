// Issue 13: /metrics tells what runs here, so beyond loopback it needs a token.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";
import { serveMetrics } from "../../src/metrics/metrics.js";

async function scrape(listenHost: string, token: string | undefined, authorization?: string): Promise<{ status: number; body: string }> {
  const server = createServer((req, res) => void serveMetrics(req, res, token, listenHost));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const port = (server.address() as { port: number }).port;
    const response = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: authorization ? { authorization } : {} });
    return { status: response.status, body: await response.text() };
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

test("without a token, /metrics is served only by a process that listens on loopback", async () => {
  assert.equal((await scrape("127.0.0.1", undefined)).status, 200);
  assert.equal((await scrape("::1", undefined)).status, 200);
  const exposed = await scrape("0.0.0.0", undefined);
  assert.equal(exposed.status, 403);
  assert.match(exposed.body, /needs SLIPWAY_METRICS_TOKEN/);
  assert.doesNotMatch(exposed.body, /slipway_/, "no metric leaks in the refusal");
});

test("with a token, every scrape must bring it, wherever Slipway listens", async () => {
  const token = "t".repeat(24);
  assert.equal((await scrape("0.0.0.0", token)).status, 401);
  assert.equal((await scrape("127.0.0.1", token, "Bearer wrong")).status, 401);
  const ok = await scrape("0.0.0.0", token, `Bearer ${token}`);
  assert.equal(ok.status, 200);
  assert.match(ok.body, /^# HELP /m);
});
