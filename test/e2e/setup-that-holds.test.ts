// Issue 17's "setup that holds on a fresh machine": scripts/check-node.sh (run by setup.sh)
// installs the distribution's Node when it is new enough and otherwise stops with what to
// do; Slipway creates the database DATABASE_URL names when it is missing; docker-compose.yml
// passes `docker compose config`, builds every runtime image with the CA build argument,
// mounts the private key, asks for its secrets by name and keeps off the host's PostgreSQL
// and Redis ports; and a missing runtime image fails the check run with what to run.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readdir, rm, symlink, writeFile, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { parse as parseYaml } from "yaml";
import { deliverWebhook, pushPayload } from "../emulator/webhooks.js";
import { adminDatabaseUrl, createTestDatabase } from "../support/create-test-database.js";
import { freePort, startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));
const slipwayBin = join(root, "bin/slipway.js");

async function outcome(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  try {
    const { stdout, stderr } = await run(file, args, { ...options, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe("setup that holds", { timeout: 15 * 60_000 }, () => {
  let folder: string;
  before(async () => {
    folder = await mkdtemp(join(tmpdir(), "slipway-setup-holds-"));
  });
  after(async () => {
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  /** A PATH whose `node` says it is `version` and whose distribution offers `candidate`. */
  async function fakeMachine(name: string, version: string, candidate: string): Promise<string> {
    const bin = join(folder, name);
    await rm(bin, { recursive: true, force: true });
    await (await import("node:fs/promises")).mkdir(bin, { recursive: true });
    const fakeNode = (v: string) => `#!/bin/sh
v=${v}
if [ "$1" = "--version" ]; then echo "v$v"; exit 0; fi
major=\${v%%.*}; rest=\${v#*.}; minor=\${rest%%.*}
if [ "$major" -gt 20 ] || { [ "$major" -eq 20 ] && [ "$minor" -ge 17 ]; }; then exit 0; fi
exit 1
`;
    await writeFile(join(bin, "node"), fakeNode(version));
    await writeFile(join(bin, "apt-cache"), `#!/bin/sh\necho "nodejs:"\necho "  Installed: ${version}"\necho "  Candidate: ${candidate}"\n`);
    // apt-get "installs" the candidate: the node on PATH becomes it.
    await writeFile(join(bin, "apt-get"), `#!/bin/sh\ncase "$*" in *install*) cat > "${join(bin, "node")}" <<'NODE'\n${fakeNode(candidate.replace(/[-+~].*/, ""))}NODE\nchmod +x "${join(bin, "node")}";; esac\nexit 0\n`);
    for (const file of ["node", "apt-cache", "apt-get"]) await chmod(join(bin, file), 0o755);
    return `${bin}:/usr/bin:/bin:/usr/sbin:/sbin`;
  }

  test("setup stops on a Node older than 20.17 it cannot upgrade, and says what to do", async () => {
    const PATH = await fakeMachine("old-node", "18.19.0", "18.19.0+dfsg-6~deb12u2");
    const result = await outcome("bash", [join(root, "scripts/check-node.sh")], { env: { PATH } });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Slipway needs Node\.js 20\.17 or newer \(found: v18\.19\.0; the distribution offers: 18\.19\.0\)/);
    assert.match(result.stderr, /Install Node 20\.17\+ .* and run scripts\/setup\.sh again/);
  });

  test("setup installs the distribution's Node when it is new enough", async () => {
    const PATH = await fakeMachine("new-enough", "18.19.0", "20.19.2+dfsg-1");
    const result = await outcome("bash", [join(root, "scripts/check-node.sh")], { env: { PATH } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /installing nodejs 20\.19\.2 and npm from the distribution/);
  });

  test("the database named in DATABASE_URL is created when it is missing", async () => {
    const name = `slipway_created_${randomBytes(4).toString("hex")}`;
    const url = adminDatabaseUrl.replace(/\/[^/]*$/, `/${name}`);
    const port = await freePort();
    const child = spawn(process.execPath, [slipwayBin, "gateway"], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "/root",
        DATABASE_URL: url,
        REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
        SLIPWAY_GATEWAY_SECRET: "g".repeat(32),
        SLIPWAY_DATA_PLANE: "node",
        SLIPWAY_HOST: "127.0.0.1",
        SLIPWAY_GATEWAY_PORT: String(port),
        SLIPWAY_QUEUE_PREFIX: `created-db-${process.pid}`,
        SLIPWAY_METRICS_PORT: "0",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const admin = new pg.Client({ connectionString: adminDatabaseUrl });
    await admin.connect();
    try {
      const deadline = Date.now() + 90_000;
      while (!output.includes("slipway started")) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the gateway did not start:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.match(output, new RegExp(`"database":"${name}".*"msg":"created the database named in DATABASE_URL"`));
      const migrated = new pg.Client({ connectionString: url });
      await migrated.connect();
      const tables = await migrated.query("select count(*)::int as n from information_schema.tables where table_name = 'deployments'");
      await migrated.end();
      assert.equal(tables.rows[0].n, 1, "and migrated");
    } finally {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  });

  describe("docker-compose.yml", () => {
    let project: string;
    const compose = async (args: string[]) => {
      // Compose v2 (`docker compose`) where the plugin is installed, else Debian's docker-compose.
      const plugin = await outcome("docker", ["compose", "version"]);
      return plugin.code === 0 ? outcome("docker", ["compose", ...args], { cwd: project }) : outcome("docker-compose", args, { cwd: project });
    };

    before(async () => {
      project = join(folder, "compose");
      await (await import("node:fs/promises")).mkdir(project, { recursive: true });
      await copyFile(join(root, "docker-compose.yml"), join(project, "docker-compose.yml"));
      for (const entry of ["Dockerfile", "runtimes", "docker"]) await symlink(join(root, entry), join(project, entry));
      await writeFile(join(project, "github-app.pem"), "not a real key\n");
    });

    test("names a missing secret, and passes `config` once compose-secrets.sh filled them in", async () => {
      await writeFile(join(project, ".env"), `APP_ID=1\nWEBHOOK_SECRET=w\nPRIVATE_KEY_PATH=${join(project, "github-app.pem")}\nSLIPWAY_GATEWAY_SECRET=\n`);
      const refused = await compose(["config", "-q"]);
      assert.notEqual(refused.code, 0, "a missing SLIPWAY_GATEWAY_SECRET is refused");
      assert.match(refused.stderr, /set SLIPWAY_GATEWAY_SECRET in \.env \(scripts\/compose-secrets\.sh makes one\)/);

      const filled = await outcome("bash", [join(root, "scripts/compose-secrets.sh"), join(project, ".env")]);
      assert.equal(filled.code, 0, filled.stderr);
      assert.match(filled.stdout, /SLIPWAY_GATEWAY_SECRET SLIPWAY_MASTER_KEY SLIPWAY_METRICS_TOKEN SLIPWAY_DB_PASSWORD/);
      const checked = await compose(["config", "-q"]);
      assert.equal(checked.code, 0, checked.stderr);
    });

    test("builds every runtime image with the CA argument, mounts the key and keeps off the host's ports", async () => {
      const config = await compose(["config"]);
      assert.equal(config.code, 0, config.stderr);
      const resolved = parseYaml(config.stdout) as {
        services: Record<string, { build?: { context: string; args?: Record<string, string> }; image?: string; ports?: (string | { published: number | string; target: number })[]; secrets?: ({ source: string } | string)[]; environment?: Record<string, string> }>;
        secrets: Record<string, { file: string }>;
      };
      const runtimes = (await readdir(join(root, "runtimes"))).sort();
      const built = Object.values(resolved.services)
        .filter((s) => s.build && /runtimes\//.test(s.build.context))
        .map((s) => ({ name: s.build!.context.split("/").pop()!, image: s.image, args: Object.keys(s.build!.args ?? {}) }));
      assert.deepEqual(built.map((b) => b.name).sort(), runtimes, "a service builds each runtimes/* image");
      for (const image of built) {
        assert.equal(image.image, `slipway/runtime-${image.name}:local`);
        assert.deepEqual(image.args, ["CA_BUNDLE"]);
      }
      for (const role of ["app", "worker", "gateway"]) {
        const service = resolved.services[role]!;
        assert.deepEqual(Object.keys(service.build?.args ?? {}), ["CA_BUNDLE"], `${role} builds with the CA argument`);
        assert.ok(service.secrets?.some((s) => (typeof s === "string" ? s : s.source) === "github_app_private_key"), `${role} mounts the private key`);
        assert.equal(service.environment?.PRIVATE_KEY_PATH, "/run/secrets/github_app_private_key");
        assert.match(service.environment?.SLIPWAY_GATEWAY_SECRET ?? "", /^[0-9a-f]{48}$/, "the generated secret reaches every role");
      }
      assert.equal(resolved.secrets.github_app_private_key!.file, join(project, "github-app.pem"));
      const published = (name: string) => (resolved.services[name]!.ports ?? []).map((p) => (typeof p === "string" ? Number(p.split(":").at(-2)) : Number(p.published)));
      for (const name of ["postgres", "redis"]) {
        for (const port of published(name)) assert.ok(![5432, 6379].includes(port), `${name} is not published on the host's default port (${port})`);
      }
      assert.match(resolved.services.gateway!.environment!.DATABASE_URL!, /@127\.0\.0\.1:55432\//, "the gateway reaches PostgreSQL where it is published");
    });
  });

  describe("a missing runtime image", () => {
    let stack: SlipwayStack;
    before(async () => {
      stack = await startSlipwayStack({ env: { SLIPWAY_RUNTIME_IMAGE_PYTHON_3_13: `slipway/runtime-python-3.13:missing-${randomBytes(3).toString("hex")}` } });
    });
    after(async () => {
      if (stack) await stack.stop();
    });

    test("fails the check run with what to run instead of Docker's error", async () => {
      const repo = await stack.emulator.createRepo({ owner: "imgco", name: "py", installationId: 7171 });
      const commit = await stack.emulator.commit({
        owner: "imgco",
        repo: "py",
        files: { "slipway.yml": "functions:\n  - id: pyfn\n    runtime: python-3.13\n", "main.py": "def main(context):\n    return context.res.text('hi')\n" },
        message: "python",
      });
      const sent = await deliverWebhook({ url: stack.webhookUrl, event: "push", payload: pushPayload({ repo, before: commit.before, after: commit.sha }), secret: stack.webhookSecret });
      assert.equal(sent.status, 202);
      const run = await stack.emulator.waitFor(
        () => stack.emulator.checkRuns("imgco", "py").find((r) => r.head_sha === commit.sha && r.name === "slipway / pyfn" && r.status === "completed"),
        { timeoutMs: 3 * 60_000, intervalMs: 250 },
      );
      assert.equal(run.conclusion, "failure");
      const said = `${run.output?.title ?? ""}\n${run.output?.summary ?? ""}`;
      assert.match(said, /is not on this worker's Docker engine: build it with scripts\/setup\.sh/);
      assert.ok(!/No such image/i.test(said), said);
    });
  });
});
