// bench/gateway: a hello-world function driven four ways in one run, with autocannon on
// loopback: through Slipway's gateway (/fn/<slug>/, an `execute: any` function, so the
// execution headers, the execution key and the execution record are all on the path) with
// its nginx data plane (SLIPWAY_DATA_PLANE=nginx, the recommended setting) and with its own
// Node proxy (SLIPWAY_DATA_PLANE=node, a second gateway of the same stack), directly at the
// runtime container, and through a bare nginx in front of the same container (one worker,
// as the data plane is given here). Target: gateway p50 ≤ 1.2× bare nginx's and req/s
// ≥ 0.8× bare nginx's. Bounded: BENCH_SECONDS (default 8) per target after a 2 s warm-up,
// BENCH_CONNECTIONS (default 32).
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import Docker from "dockerode";
import { findBinary } from "../../src/gateway/nginx-data-plane.js";
import { runtimeSecret } from "../../src/gateway/runtime-containers.js";
import { deliverWebhook, pushPayload } from "../../test/emulator/webhooks.js";
import { freePort, startSlipwayStack } from "../../test/support/start-slipway-stack.js";

const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);


type Figures = { name: string; p50: number; p99: number; rps: number; non2xx: number; errors: number };

async function measure(name: string, url: string, headers: Record<string, string> = {}): Promise<Figures> {
  await autocannon({ url, connections, duration: 2, headers });
  const result = await autocannon({ url, connections, duration: seconds, headers });
  return { name, p50: result.latency.p50, p99: result.latency.p99, rps: result.requests.average, non2xx: result.non2xx, errors: result.errors + result.timeouts };
}

async function main(): Promise<void> {
  // scripts/bench.sh runs the setup, which installs nginx.
  const nginxBinary = findBinary("nginx");
  const stack = await startSlipwayStack({
    extraGateways: 1,
    env: { SLIPWAY_DATA_PLANE: "nginx", SLIPWAY_NGINX_WORKERS: "1", ...(process.env.SLIPWAY_RUNTIME_PORTS !== undefined ? { SLIPWAY_RUNTIME_PORTS: process.env.SLIPWAY_RUNTIME_PORTS } : {}) },
    processEnv: { "gateway-2": { SLIPWAY_DATA_PLANE: "node" } },
  });
  let nginx: ReturnType<typeof spawn> | undefined;
  const nginxDir = await mkdtemp(join(tmpdir(), "slipway-bench-nginx-"));
  try {
    const owner = "bench";
    const repoName = "hello";
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 777 });
    const files = {
      "slipway.yml": "functions:\n  - id: hello\n    runtime: node-20\n    commands: \"true\"\n    execute: any\n",
      "index.js": 'module.exports = async (context) => context.res.text("hello");\n',
    };
    const commit = await stack.emulator.commit({ owner, repo: repoName, files, message: "bench" });
    await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha, message: "bench" }), secret: stack.webhookSecret, deliveryId: randomUUID() });
    const alias = await stack.emulator.waitFor(
      async () => (await stack.db.query<{ deployment_id: string }>("select deployment_id from aliases where name = 'production'")).rows[0],
      { timeoutMs: 5 * 60_000, intervalMs: 250 },
    );
    const deploymentId = alias.deployment_id;
    const info = await new Docker().getContainer(`slipway-runtime-${deploymentId}`).inspect();
    const port = info.NetworkSettings.Ports["3000/tcp"]![0]!.HostPort;
    const runtimeUrl = `http://127.0.0.1:${port}/`;
    const secret = runtimeSecret(stack.gatewaySecret, deploymentId);
    const runtimeHeaders = { "x-open-runtimes-secret": secret, "x-open-runtimes-timeout": "15", "x-open-runtimes-logging": "enabled" };

    const nginxPort = await freePort();
    await writeFile(
      join(nginxDir, "nginx.conf"),
      `worker_processes 1;
pid ${nginxDir}/nginx.pid;
error_log ${nginxDir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${nginxDir}/body;
  proxy_temp_path ${nginxDir}/proxy;
  fastcgi_temp_path ${nginxDir}/fastcgi;
  uwsgi_temp_path ${nginxDir}/uwsgi;
  scgi_temp_path ${nginxDir}/scgi;
  upstream runtime { server 127.0.0.1:${port}; keepalive 128; }
  server {
    listen 127.0.0.1:${nginxPort};
    location / {
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header x-open-runtimes-secret "${secret}";
      proxy_set_header x-open-runtimes-timeout "15";
      proxy_set_header x-open-runtimes-logging "enabled";
      proxy_pass http://runtime;
    }
  }
}
`,
    );
    nginx = spawn(nginxBinary, ["-p", nginxDir, "-c", join(nginxDir, "nginx.conf"), "-g", "daemon off;"], { stdio: "ignore" });
    for (let i = 0; i < 50; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${nginxPort}/`)).ok) break;
      } catch {}
      await new Promise((r) => setTimeout(r, 100));
    }
    const functionPath = `/fn/hello~${repoName}~${owner}/`;
    const [viaDataPlane, viaNodeProxy] = stack.gatewayUrls.map((base) => `${base}${functionPath}`) as [string, string];
    for (const url of [viaDataPlane, viaNodeProxy]) {
      // The second gateway hears of the route over Redis.
      for (let i = 0; i < 100 && !(await fetch(url)).ok; i++) await new Promise((r) => setTimeout(r, 100));
      const check = await fetch(url);
      if (!check.ok) throw new Error(`${url} answered ${check.status}`);
    }

    const results = [
      await measure("direct (runtime container)", runtimeUrl, runtimeHeaders),
      await measure("nginx → container", `http://127.0.0.1:${nginxPort}/`),
      await measure("gateway, own Node proxy", viaNodeProxy),
      await measure("gateway, nginx data plane", viaDataPlane),
    ];
    console.log(`hello-world, ${connections} connections, ${seconds} s each, loopback`);
    console.log("target".padEnd(28), "p50 ms".padStart(8), "p99 ms".padStart(8), "req/s".padStart(10), "non-2xx".padStart(8), "errors".padStart(7));
    for (const r of results) console.log(r.name.padEnd(28), r.p50.toFixed(2).padStart(8), r.p99.toFixed(2).padStart(8), r.rps.toFixed(0).padStart(10), String(r.non2xx).padStart(8), String(r.errors).padStart(7));
    const [, viaNginx, viaNode, viaGateway] = results as [Figures, Figures, Figures, Figures];
    const ratios = (of: Figures) => `p50 ${(of.p50 / Math.max(viaNginx.p50, 0.01)).toFixed(2)}×, req/s ${(of.rps / viaNginx.rps).toFixed(2)}×`;
    console.log(`gateway's own Node proxy / nginx: ${ratios(viaNode)} (for comparison)`);
    const latencyRatio = viaGateway.p50 / Math.max(viaNginx.p50, 0.01);
    const throughputRatio = viaGateway.rps / viaNginx.rps;
    console.log(`gateway (nginx data plane) / nginx: ${ratios(viaGateway)} (target: p50 ≤ 1.2×, req/s ≥ 0.8×)`);
    console.log(latencyRatio <= 1.2 && throughputRatio >= 0.8 ? "target met" : "target missed");
  } finally {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((r) => nginx!.once("exit", r));
      nginx.kill("SIGTERM");
      await exited;
    }
    await rm(nginxDir, { recursive: true, force: true });
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
