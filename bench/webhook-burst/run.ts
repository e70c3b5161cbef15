// bench/webhook-burst: what ten busy repositories do to the webhook path. BENCH_REPOS
// (default 10) repositories, each its own installation with one node-20 function (no build
// command) whose answer names its commit, are deployed once (warm-up, not counted). Then:
//   idle    10 pushes one at a time, each waited for until it serves and GitHub is quiet;
//   burst   BENCH_BURST (50) pushes in 1 s, interleaved across the repositories, each
//           repository's pushes in order (`before` = its previous commit), fired without
//           waiting for answers;
//   spread  BENCH_SPREAD_PUSHES (100) pushes spread evenly over BENCH_SPREAD_SECONDS (60).
// For each: ack p50/p99/max (time to the HTTP answer, beside the app's longest event-loop
// delay meanwhile, from its /metrics), commits built to ready against
// commits pushed, superseded builds, the time from the last push until every function
// serves its newest commit, and the GitHub REST calls the app made per push (git smart-HTTP
// excluded), counted until GitHub has heard nothing for a few seconds. Targets, printed
// and not asserted: ack p99 < 100 ms; built ≤ functions + builds already running when a
// newer commit arrived. GitHub writes are throttled as in production (1000 ms per
// installation and process). Pushes are sent, and their answers timed, on a thread of
// their own (send-pushes.ts). Bounded: loopback only, every wait under a 14 min deadline.
import { setTimeout as sleep } from "node:timers/promises";
import { randomUUID } from "node:crypto";
import type { RepoRecord } from "../../test/emulator/emulator-types.js";
import { pushPayload } from "../../test/emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../../test/support/start-slipway-stack.js";
import { startPushSender } from "./send-pushes.js";

const repoCount = Number(process.env.BENCH_REPOS ?? 10);
const burstPushes = Number(process.env.BENCH_BURST ?? 50);
const spreadPushes = Number(process.env.BENCH_SPREAD_PUSHES ?? 100);
const spreadSeconds = Number(process.env.BENCH_SPREAD_SECONDS ?? 60);
const idlePushes = 10;
const burstSeconds = 1;
const writeIntervalMs = 1000;
// GitHub counts as quiet once no call came for this long: longer than one write interval.
const quietMs = 3 * writeIntervalMs;
const deadlineAt = Date.now() + 14 * 60_000;
const owner = "bench";
const functionName = "api";
const yml = `functions:\n  - id: ${functionName}\n    runtime: node-20\n    root: api\n    commands: ""\n    execute: any\n`;
const handler = (marker: string) => `module.exports = async (c) => c.res.text(${JSON.stringify(marker)});\n`;

type Busy = { name: string; repo: RepoRecord; url: string };
type Push = {
  busy: Busy;
  sha: string;
  marker: string;
  payload: unknown;
  deliveryId: string;
  /** Epoch ms, as every time here (see now()). */
  sentAt: number;
  ackMs: number | null;
  outcome: string;
  /** Set when the idle phase saw this push serve; the others are checked in settle(). */
  servedAt: number | null;
};
type Sender = ReturnType<typeof startPushSender>;
type Settled = { servedSeconds: number | null; handledSeconds: number | null; lagMs: number[]; githubSeconds: number | null; githubQuiet: boolean };
type Figures = Settled & {
  label: string;
  appLoopDelayMs: number;
  pushes: number;
  sentSeconds: number;
  acks: number[];
  ackFailures: number;
  built: number;
  cancelled: number;
  failed: number;
  noDeployment: number;
  alreadyRunning: number;
  startedAfterNewer: number;
  calls: { reads: number; writes: number; appJwt: number; non2xx: number; git: number };
  byOperation: Map<string, number>;
};

const now = () => performance.timeOrigin + performance.now();
const remaining = () => Math.max(0, deadlineAt - Date.now());
const progress = (line: string) => process.stderr.write(`[webhook-burst] ${line}\n`);
// Nearest rank: with 50 samples p99 is the largest.
const percentile = (sorted: number[], p: number) => sorted[Math.max(0, Math.ceil((sorted.length * p) / 100) - 1)] ?? NaN;

async function until(probe: () => Promise<boolean>, timeoutMs: number, intervalMs: number): Promise<boolean> {
  const giveUpAt = Date.now() + Math.min(timeoutMs, remaining());
  for (;;) {
    if (await probe().catch(() => false)) return true;
    if (Date.now() >= giveUpAt) return false;
    await sleep(intervalMs);
  }
}

async function serves(url: string, marker: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return response.status === 200 && (await response.text()) === marker;
}

/** `count` pushes in firing order, round robin over the repositories; the commits are made now, before any is sent. */
async function planPushes(stack: SlipwayStack, busy: Busy[], phase: string, count: number, firstFiles: Record<string, string> = {}): Promise<Push[]> {
  const slots = Array.from({ length: count }, (_, k) => ({ k, busy: busy[k % busy.length]! }));
  const pushes: Push[] = new Array(count);
  await Promise.all(
    busy.map(async (b) => {
      let n = 0;
      for (const { k } of slots.filter((s) => s.busy === b)) {
        const marker = `${b.name} ${phase} ${n}`;
        const files = { ...(n === 0 ? firstFiles : {}), "api/index.js": handler(marker) };
        const commit = await stack.emulator.commit({ owner, repo: b.name, files, message: marker });
        const payload = pushPayload({ repo: b.repo, before: commit.before, after: commit.sha, message: marker });
        pushes[k] = { busy: b, sha: commit.sha, marker, payload, deliveryId: randomUUID(), sentAt: 0, ackMs: null, outcome: "not sent", servedAt: null };
        n++;
      }
    }),
  );
  return pushes;
}

/**
 * The app's longest event-loop delay since the previous call, in ms: prom-client's
 * monitorEventLoopDelay histogram, which each scrape of /metrics reads and resets.
 */
async function appLoopDelayMaxMs(stack: SlipwayStack): Promise<number> {
  const text = await (await fetch(`${stack.appUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const value = /^slipway_nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})? ([\d.eE+-]+)$/m.exec(text)?.[1];
  return value === undefined ? NaN : Number(value) * 1000;
}

/** Sends push k at k × intervalMs from now, without waiting for earlier answers; returns the app's longest event-loop delay meanwhile. */
async function fireOnSchedule(stack: SlipwayStack, sender: Sender, pushes: Push[], intervalMs: number): Promise<number> {
  await appLoopDelayMaxMs(stack).catch(() => NaN);
  const sent = await sender.send(pushes.map((p, k) => ({ deliveryId: p.deliveryId, payload: p.payload, atMs: k * intervalMs })));
  for (const [k, answer] of sent.entries()) Object.assign(pushes[k]!, { sentAt: answer.sentAt, ackMs: answer.ackMs, outcome: answer.outcome });
  return appLoopDelayMaxMs(stack).catch(() => NaN);
}

/** Waits until no GitHub request (REST or git) has come for quietMs; false if the deadline came first. */
async function githubQuiet(stack: SlipwayStack, timeoutMs: number): Promise<boolean> {
  let seen = stack.emulator.requests.length;
  let changedAt = Date.now();
  return until(async () => {
    if (stack.emulator.requests.length !== seen) {
      seen = stack.emulator.requests.length;
      changedAt = Date.now();
    }
    return Date.now() - changedAt >= quietMs;
  }, timeoutMs, 250);
}

/** Waits for every function to serve its newest pushed commit, the builds and deliveries to end, and GitHub to go quiet. */
async function settle(stack: SlipwayStack, pushes: Push[], requestsFrom: number): Promise<Settled> {
  const last = pushes.reduce((a, b) => (b.sentAt > a.sentAt ? b : a));
  const newest = new Map(pushes.map((p) => [p.busy, p.marker]));
  const servedAt = new Map<Busy, number>();
  for (const p of pushes) if (p.servedAt !== null && newest.get(p.busy) === p.marker) servedAt.set(p.busy, p.servedAt);
  const allServed = await until(async () => {
    await Promise.all(
      [...newest].filter(([b]) => !servedAt.has(b)).map(async ([b, marker]) => {
        if (await serves(b.url, marker).catch(() => false)) servedAt.set(b, now());
      }),
    );
    return servedAt.size === newest.size;
  }, 10 * 60_000, 500);
  const shas = pushes.map((p) => p.sha);
  const ids = pushes.map((p) => p.deliveryId);
  await until(async () => (await stack.db.query<{ n: number }>("select count(*)::int as n from deployments where commit_sha = any($1) and status in ('queued', 'building')", [shas])).rows[0]!.n === 0, 3 * 60_000, 500);
  const allHandled = await until(async () => (await stack.db.query<{ n: number }>("select count(*)::int as n from webhook_deliveries where id = any($1) and status = 'received'", [ids])).rows[0]!.n === 0, 3 * 60_000, 250);
  const quiet = await githubQuiet(stack, 5 * 60_000);
  const handled = (await stack.db.query<{ lag_ms: number; processed_ms: number }>(
    "select extract(epoch from processed_at - received_at) * 1000 as lag_ms, extract(epoch from processed_at) * 1000 as processed_ms from webhook_deliveries where id = any($1) and processed_at is not null",
    [ids],
  )).rows;
  const lastRest = stack.emulator.requests.slice(requestsFrom).filter((r) => r.kind === "rest").at(-1);
  return {
    servedSeconds: allServed ? (Math.max(...servedAt.values()) - last.sentAt) / 1000 : null,
    handledSeconds: allHandled && handled.length > 0 ? (Math.max(...handled.map((h) => Number(h.processed_ms))) - last.sentAt) / 1000 : null,
    lagMs: handled.map((h) => Number(h.lag_ms)).sort((a, b) => a - b),
    githubSeconds: lastRest ? (Date.parse(lastRest.at) - last.sentAt) / 1000 : null,
    githubQuiet: quiet,
  };
}

async function measure(stack: SlipwayStack, label: string, pushes: Push[], requestsFrom: number, settled: Settled, appLoopDelayMs: number): Promise<Figures> {
  const rows = (await stack.db.query<{ status: string; started: Date | null; superseded_at: Date | null }>(
    `select d.status, d.build_started_at as started,
            lead(d.created_at) over (partition by d.function_id order by d.version) as superseded_at
       from deployments d where d.commit_sha = any($1)`,
    [pushes.map((p) => p.sha)],
  )).rows;
  // Already running: an older commit's build had started (or finished) before the newer commit's build was recorded.
  const alreadyRunning = rows.filter((r) => r.superseded_at && r.started && r.started < r.superseded_at);
  const requests = stack.emulator.requests.slice(requestsFrom);
  const rest = requests.filter((r) => r.kind === "rest");
  const byOperation = new Map<string, number>();
  for (const r of rest) {
    const name = `${r.method} ${r.operationId ?? r.path}`;
    byOperation.set(name, (byOperation.get(name) ?? 0) + 1);
  }
  const acks = pushes.filter((p) => p.outcome === "202").map((p) => p.ackMs!).sort((a, b) => a - b);
  const sent = pushes.map((p) => p.sentAt);
  return {
    ...settled,
    label,
    appLoopDelayMs,
    pushes: pushes.length,
    sentSeconds: (Math.max(...sent) - Math.min(...sent)) / 1000,
    acks,
    ackFailures: pushes.length - acks.length,
    built: rows.filter((r) => r.status === "ready").length,
    cancelled: rows.filter((r) => r.status === "cancelled").length,
    failed: rows.filter((r) => r.status === "failed").length,
    noDeployment: pushes.length - rows.length,
    alreadyRunning: alreadyRunning.length,
    startedAfterNewer: rows.filter((r) => r.status === "ready" && r.superseded_at && !(r.started && r.started < r.superseded_at)).length,
    calls: {
      reads: rest.filter((r) => r.auth !== "jwt" && (r.method === "GET" || r.method === "HEAD")).length,
      writes: rest.filter((r) => r.auth !== "jwt" && r.method !== "GET" && r.method !== "HEAD").length,
      appJwt: rest.filter((r) => r.auth === "jwt").length,
      non2xx: rest.filter((r) => r.status < 200 || r.status > 299).length,
      git: requests.length - rest.length,
    },
    byOperation,
  };
}

/** Warnings and errors in the stack's JSON logs, by message. */
function logProblems(logs: string): [string, number][] {
  const counts = new Map<string, number>();
  for (const line of logs.split("\n")) {
    let entry: { level?: number; msg?: string; err?: { message?: string } };
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if ((entry.level ?? 0) < 40) continue;
    const key = `${entry.level! >= 50 ? "error" : "warn"}: ${entry.msg ?? ""}${entry.err?.message ? ` (${entry.err.message.slice(0, 100)})` : ""}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]);
}

function report(phases: Figures[], problems: [string, number][]): void {
  const functions = repoCount;
  const f1 = (v: number | null) => (v === null ? "timed out" : v.toFixed(1));
  const perPush = (n: number, f: Figures) => (n / f.pushes).toFixed(1);
  const row = (name: string, cell: (f: Figures) => string) => console.log(name.padEnd(44) + phases.map((f) => cell(f).padStart(18)).join(""));
  console.log(`\nbench/webhook-burst: ${repoCount} repositories × 1 node-20 function, one installation each; loopback; GitHub write interval ${writeIntervalMs} ms`);
  row("", (f) => f.label);
  row("pushes (sent over s)", (f) => `${f.pushes} (${f.sentSeconds.toFixed(1)})`);
  row("ack p50 / p99 / max (ms)", (f) => `${percentile(f.acks, 50).toFixed(0)} / ${percentile(f.acks, 99).toFixed(0)} / ${percentile(f.acks, 100).toFixed(0)}`);
  row("acks not 202", (f) => String(f.ackFailures));
  row("app event-loop delay max, acking (ms)", (f) => f.appLoopDelayMs.toFixed(0));
  row("commits built to ready / pushed", (f) => `${f.built} / ${f.pushes}`);
  row("superseded (cancelled) / failed / none", (f) => `${f.cancelled} / ${f.failed} / ${f.noDeployment}`);
  row("started before a newer commit came", (f) => String(f.alreadyRunning));
  row("last push → all serve newest (s)", (f) => f1(f.servedSeconds));
  row("last push → last delivery handled (s)", (f) => f1(f.handledSeconds));
  row("delivery handling lag p50 / max (s)", (f) => `${(percentile(f.lagMs, 50) / 1000).toFixed(1)} / ${(percentile(f.lagMs, 100) / 1000).toFixed(1)}`);
  row("last push → last GitHub call (s)", (f) => `${f1(f.githubSeconds)}${f.githubQuiet ? "" : " (still busy)"}`);
  row("GitHub REST calls per push", (f) => perPush(f.calls.reads + f.calls.writes + f.calls.appJwt, f));
  row("  reads (GET) per push", (f) => perPush(f.calls.reads, f));
  row("  writes (POST/PATCH/PUT/DELETE) per push", (f) => perPush(f.calls.writes, f));
  row("  app JWT (token mints) per push", (f) => perPush(f.calls.appJwt, f));
  row("  answered non-2xx (total)", (f) => String(f.calls.non2xx));
  row("git smart-HTTP requests (not counted)", (f) => String(f.calls.git));
  for (const f of phases) {
    const top = [...f.byOperation].sort((a, b) => b[1] - a[1]).slice(0, 7);
    console.log(`calls in ${f.label} (per push): ${top.map(([op, n]) => `${op} ${perPush(n, f)}`).join(", ")}`);
  }
  const idle = phases.find((f) => f.label === "idle");
  const ackP99 = (f: Figures) => percentile(f.acks, 99);
  for (const f of phases.filter((p) => p !== idle)) {
    if (idle) console.log(`ack p99 ${f.label} / idle = ${(ackP99(f) / ackP99(idle)).toFixed(2)}x (${ackP99(f).toFixed(0)} ms / ${ackP99(idle).toFixed(0)} ms)`);
  }
  console.log("targets (printed, not asserted):");
  for (const f of phases.filter((p) => p !== idle)) {
    console.log(`  ${f.label}: ack p99 < 100 ms: ${ackP99(f).toFixed(0)} ms ${ackP99(f) < 100 && f.ackFailures === 0 ? "PASS" : "MISS"}`);
    const allowed = functions + f.alreadyRunning;
    console.log(`  ${f.label}: built <= functions + already running: ${f.built} <= ${functions} + ${f.alreadyRunning} ${f.built <= allowed ? "PASS" : "MISS"} (ready although started after a newer commit was recorded: ${f.startedAfterNewer})`);
  }
  console.log(problems.length === 0 ? "stack logs: no warnings or errors" : `stack logs, warnings and errors: ${problems.slice(0, 6).map(([m, n]) => `${n} × ${m}`).join("; ")}`);
}

async function main(): Promise<void> {
  // Production throttling, not the test stack's 100 ms.
  const stack = await startSlipwayStack({ env: { SLIPWAY_GITHUB_WRITE_INTERVAL_MS: String(writeIntervalMs) } });
  const sender = startPushSender(stack.webhookUrl, stack.webhookSecret);
  const phases: Figures[] = [];
  try {
    const busy: Busy[] = [];
    for (let i = 0; i < repoCount; i++) {
      const name = `busy-${i}`;
      const repo = await stack.emulator.createRepo({ owner, name, installationId: 9100 + i });
      busy.push({ name, repo, url: `${stack.gatewayUrl}/fn/${functionName}~${name}~${owner}/` });
    }

    // Warm-up: every function deployed once, so the phases measure updates, not first builds.
    progress("warm-up: first deploy of every function");
    const warmUp = await planPushes(stack, busy, "v", repoCount, { "slipway.yml": yml });
    await fireOnSchedule(stack, sender, warmUp, 0);
    const warm = await settle(stack, warmUp, 0);
    if (warm.servedSeconds === null) throw new Error("the warm-up deploys did not all serve; see the stack logs");
    progress(`warm-up served after ${warm.servedSeconds.toFixed(1)} s`);

    const phase = async (label: string, plan: () => Promise<Push[]>, fire: (pushes: Push[]) => Promise<number>) => {
      if (remaining() < 60_000) return progress(`${label}: skipped, the deadline is near`);
      const pushes = await plan();
      const requestsFrom = stack.emulator.requests.length;
      progress(`${label}: sending ${pushes.length} pushes`);
      const appLoopDelayMs = await fire(pushes);
      const slowest = pushes.map((p, k) => ({ k, p })).sort((a, b) => b.p.ackMs! - a.p.ackMs!).slice(0, 3);
      progress(`${label}: slowest acks ${slowest.map(({ k, p }) => `#${k} (${p.busy.name}) ${p.ackMs!.toFixed(0)} ms`).join(", ")}`);
      const settled = await settle(stack, pushes, requestsFrom);
      phases.push(await measure(stack, label, pushes, requestsFrom, settled, appLoopDelayMs));
      progress(`${label}: all serve newest ${settled.servedSeconds?.toFixed(1) ?? "—"} s after the last push; GitHub quiet ${settled.githubQuiet}`);
    };

    // Idle: one push at a time, each after the previous one serves and GitHub has gone quiet.
    await phase("idle", () => planPushes(stack, busy, "idle", idlePushes), async (pushes) => {
      let appLoopDelayMs = 0;
      for (const push of pushes) {
        appLoopDelayMs = Math.max(appLoopDelayMs, await fireOnSchedule(stack, sender, [push], 0));
        if (await until(() => serves(push.busy.url, push.marker), 3 * 60_000, 200)) push.servedAt = now();
        await githubQuiet(stack, 60_000);
      }
      return appLoopDelayMs;
    });
    await phase("burst", () => planPushes(stack, busy, "burst", burstPushes), (pushes) => fireOnSchedule(stack, sender, pushes, (burstSeconds * 1000) / pushes.length));
    await phase("spread", () => planPushes(stack, busy, "spread", spreadPushes), (pushes) => fireOnSchedule(stack, sender, pushes, (spreadSeconds * 1000) / pushes.length));
  } finally {
    await sender.stop();
    const problems = logProblems(stack.logs());
    await stack.stop();
    if (phases.length > 0) report(phases, problems);
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
