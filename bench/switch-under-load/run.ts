// bench/switch-under-load: what callers of a function see while production is switched
// under them. A Node function (`execute: any`) is deployed twice, v1 answering "v1" and v2
// "v2"; BENCH_CLIENTS (default 16) keep-alive clients (one undici Client, one connection,
// each) call /fn/<key>/ in a tight loop on loopback, spread over BENCH_GATEWAYS (default 2)
// gateways of one stack (a switch is made through the first), first for
// BENCH_BASELINE_SECONDS (default 8) with no switching, then while production is switched
// BENCH_SWITCHES (default 60) times through the REST API, rollback to v1 and promote to v2
// in turn, each switch sent once the previous one has answered and BENCH_SWITCH_GAP_MS
// (default 100) has passed, so the version each answer announces is seen serving alone.
// A call failed if it threw or answered non-2xx; it is stale if it was sent after a
// switch answered, came back before the next switch was sent, and carries the other
// version's body (a call in flight while a switch is under way may get either version).
// Target: 0 failed, 0 stale, p99 during switching ≤ 1.5× p99 without (same run).
// Bounded: a 1 s unrecorded warm-up, the baseline by duration, the switches by count,
// each with a timeout.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "undici";
import { createApiToken } from "../../src/api/api-tokens.js";
import { deliverWebhook, pushPayload } from "../../test/emulator/webhooks.js";
import { startSlipwayStack } from "../../test/support/start-slipway-stack.js";

const clientCount = Number(process.env.BENCH_CLIENTS ?? 16);
const baselineSeconds = Number(process.env.BENCH_BASELINE_SECONDS ?? 8);
const switchCount = Number(process.env.BENCH_SWITCHES ?? 60);
const switchGapMs = Number(process.env.BENCH_SWITCH_GAP_MS ?? 100);
const gatewayCount = Number(process.env.BENCH_GATEWAYS ?? 2);
const owner = "bench";
const repoName = "switch";
const functionPath = `/fn/hello~${repoName}~${owner}/`;
const yml = 'functions:\n  - id: hello\n    runtime: node-20\n    root: fn\n    commands: ""\n    execute: any\n';
const handler = (v: string) => `module.exports = async (c) => c.res.text(${JSON.stringify(v)});\n`;
/** What production serves once `switches` switches have answered: odd ones roll back to v1. */
const versionAfter = (switches: number) => (switches % 2 === 1 ? "v1" : "v2");

type Phase = "warm-up" | "baseline" | "switching";
type Call = { ms: number; error?: string; checked: boolean; stale: boolean };

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;

async function until(probe: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Clients calling the function in a loop, each call filed under the phase it was sent in. */
function startLoad(origins: string[]) {
  const state = { phase: "warm-up" as Phase | "done", switchesSent: 0, switchesAnswered: 0 };
  const calls: Record<Phase, Call[]> = { "warm-up": [], baseline: [], switching: [] };
  const clients = Array.from({ length: clientCount }, (_, i) => new Client(origins[i % origins.length]!, { pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000 }));
  const loop = async (client: Client) => {
    while (state.phase !== "done") {
      const phase = state.phase;
      const answered = state.switchesAnswered;
      const started = performance.now();
      const call: Call = { ms: 0, checked: false, stale: false };
      try {
        const { statusCode, body } = await client.request({ path: functionPath, method: "GET" });
        const text = await body.text();
        if (statusCode < 200 || statusCode > 299) call.error = `HTTP ${statusCode}`;
        else if (text !== "v1" && text !== "v2") call.error = `unexpected body ${JSON.stringify(text.slice(0, 60))}`;
        else {
          call.checked = state.switchesSent === answered;
          call.stale = call.checked && text !== versionAfter(answered);
        }
      } catch (error) {
        const { code, message } = error as { code?: string; message?: string };
        call.error = `${code ?? "error"} ${message ?? String(error)}`;
      }
      call.ms = performance.now() - started;
      calls[phase].push(call);
    }
  };
  const loops = clients.map(loop);
  return {
    state,
    calls,
    async stop() {
      state.phase = "done";
      await Promise.all(loops);
      await Promise.all(clients.map((c) => c.close()));
    },
  };
}

function summarize(calls: Call[]) {
  const sorted = calls.map((c) => c.ms).sort((a, b) => a - b);
  const errors = new Map<string, number>();
  for (const c of calls) if (c.error) errors.set(c.error, (errors.get(c.error) ?? 0) + 1);
  return {
    served: calls.length,
    failed: calls.filter((c) => c.error).length,
    checked: calls.filter((c) => c.checked).length,
    stale: calls.filter((c) => c.stale).length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    errors,
  };
}

async function main(): Promise<void> {
  const stack = await startSlipwayStack({ extraGateways: gatewayCount - 1 });
  try {
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 4242 });
    const url = `${stack.gatewayUrl}${functionPath}`;
    const served = async () => (await fetch(url)).text();
    const push = async (files: Record<string, string>, message: string) => {
      const commit = await stack.emulator.commit({ owner, repo: repoName, files, message });
      await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message }), secret: stack.webhookSecret, deliveryId: randomUUID() });
    };
    await push({ "slipway.yml": yml, "fn/index.js": handler("v1") }, "v1");
    await until(async () => (await served()) === "v1", 5 * 60_000, "v1 to serve");
    await push({ "fn/index.js": handler("v2") }, "v2");
    await until(async () => (await served()) === "v2", 3 * 60_000, "v2 to serve");
    const functionId = (await stack.db.query<{ id: string }>("select id from functions")).rows[0]!.id;
    const { token } = await createApiToken(stack.db, { name: "bench", kind: "server" });

    const switchMs: number[] = [];
    // Every gateway serves v2 before the load starts.
    for (const gateway of stack.gatewayUrls) await until(async () => (await (await fetch(`${gateway}${functionPath}`)).text()) === "v2", 60_000, `${gateway} to serve v2`);
    const load = startLoad(stack.gatewayUrls);
    let switchingSeconds = 0;
    try {
      await sleep(1000);
      load.state.phase = "baseline";
      await sleep(baselineSeconds * 1000);
      load.state.phase = "switching";
      const switchingStarted = performance.now();
      for (let i = 1; i <= switchCount; i++) {
        const action = i % 2 === 1 ? "rollback" : "promote";
        load.state.switchesSent = i;
        const started = performance.now();
        const response = await fetch(`${stack.appUrl}/v1/functions/${functionId}/${action}`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ target: versionAfter(i) }),
          signal: AbortSignal.timeout(30_000),
        });
        const answer = await response.text();
        if (!response.ok) throw new Error(`switch ${i} (${action} to ${versionAfter(i)}) answered ${response.status}: ${answer}`);
        switchMs.push(performance.now() - started);
        load.state.switchesAnswered = i;
        await sleep(switchGapMs);
      }
      switchingSeconds = (performance.now() - switchingStarted) / 1000;
    } finally {
      await load.stop();
    }

    const baseline = summarize(load.calls.baseline);
    const switching = summarize(load.calls.switching);
    const row = (name: string, s: ReturnType<typeof summarize>, seconds: number) =>
      console.log(name.padEnd(26), String(s.served).padStart(9), (s.served / seconds).toFixed(0).padStart(7), String(s.failed).padStart(7), String(s.stale).padStart(6), s.p50.toFixed(2).padStart(8), s.p99.toFixed(2).padStart(8));
    console.log(`switch under load: ${clientCount} keep-alive clients on ${functionPath} of ${stack.gatewayUrls.length} gateway(s), switched through the first; loopback, data plane ${stack.env.SLIPWAY_DATA_PLANE}`);
    console.log("phase".padEnd(26), "requests".padStart(9), "req/s".padStart(7), "failed".padStart(7), "stale".padStart(6), "p50 ms".padStart(8), "p99 ms".padStart(8));
    row(`baseline (${baselineSeconds} s)`, baseline, baselineSeconds);
    row(`switching (${switchingSeconds.toFixed(1)} s)`, switching, switchingSeconds);
    for (const [name, s] of [["baseline", baseline], ["switching", switching]] as const) {
      for (const [error, count] of [...s.errors].sort((a, b) => b[1] - a[1])) console.log(`  failed during ${name}: ${count} × ${error}`);
    }
    const sortedSwitchMs = [...switchMs].sort((a, b) => a - b);
    console.log(`switches: ${switchMs.length} of ${switchCount} done, ${switchGapMs} ms apart, API p50 ${percentile(sortedSwitchMs, 50).toFixed(0)} ms`);
    const p50Ratio = switching.p50 / baseline.p50;
    const p99Ratio = switching.p99 / baseline.p99;
    console.log(`switching / baseline: p50 ${p50Ratio.toFixed(2)}×, p99 ${p99Ratio.toFixed(2)}×`);
    const failed = baseline.failed + switching.failed;
    const stale = baseline.stale + switching.stale;
    console.log(`requests served ${baseline.served + switching.served}, failed ${failed}, stale ${stale} (of ${baseline.checked + switching.checked} checked for staleness)`);
    console.log("target: 0 failed, 0 stale, p99 during switching ≤ 1.5× p99 without");
    console.log(failed === 0 && stale === 0 && p99Ratio <= 1.5 ? "target met" : "target missed");
  } finally {
    await stack.stop();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
