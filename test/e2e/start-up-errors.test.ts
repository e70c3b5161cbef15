// Issue 17's start-up failures, as an operator meets them: the real binary is started with
// a port in use, PostgreSQL or Redis unreachable, or a .env copied from .env.example, and
// each ends with one line that names the setting and the fix (no stack, no password).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:net";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { createTestDatabase } from "../support/create-test-database.js";
import { freePort } from "../support/start-slipway-stack.js";

const run = promisify(execFile);
const slipwayBin = fileURLToPath(new URL("../../bin/slipway.js", import.meta.url));

describe("start-up errors", { timeout: 5 * 60_000 }, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;

  const start = async (role: string, env: Record<string, string>) => {
    const base = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/root",
      DATABASE_URL: database.url,
      REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
      SLIPWAY_GATEWAY_SECRET: "g".repeat(32),
      SLIPWAY_DATA_PLANE: "node",
      SLIPWAY_HOST: "127.0.0.1",
      SLIPWAY_QUEUE_PREFIX: `start-up-errors-${process.pid}`,
      SLIPWAY_METRICS_PORT: "0",
    };
    try {
      const { stdout, stderr } = await run(process.execPath, [slipwayBin, role], { env: { ...base, ...env }, timeout: 120_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  before(async () => {
    database = await createTestDatabase({ migrate: false });
  });

  after(async () => {
    if (database) await database.drop();
  });

  test("a port in use is one line naming the setting", async () => {
    const port = await freePort();
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(port, "127.0.0.1", resolve));
    try {
      const result = await start("gateway", { SLIPWAY_GATEWAY_PORT: String(port) });
      assert.equal(result.code, 1);
      assert.equal(result.stderr, `slipway cannot start: SLIPWAY_GATEWAY_PORT ${port} is in use: stop what listens there (\`ss -ltnp 'sport = :${port}'\` shows it) or set SLIPWAY_GATEWAY_PORT to a free port\n`);
    } finally {
      holder.close();
    }
  });

  test("PostgreSQL unreachable names DATABASE_URL with the password hidden", async () => {
    const port = await freePort();
    const result = await start("gateway", { DATABASE_URL: `postgres://slipway:hunter2@127.0.0.1:${port}/slipway` });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `slipway cannot start: cannot reach PostgreSQL at DATABASE_URL=postgres://slipway:***@127.0.0.1:${port}/slipway: the connection was refused; is PostgreSQL running there? (scripts/setup.sh starts a local one)\n`);
  });

  test("Redis refusing the connection names REDIS_URL, once", async () => {
    const port = await freePort();
    const result = await start("gateway", { REDIS_URL: `redis://:s3cret@127.0.0.1:${port}` });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `slipway cannot start: Redis at REDIS_URL=redis://:***@127.0.0.1:${port} refused the connection; is Redis running there? (scripts/setup.sh starts a local one)\n`);
  });

  test("an S3 artifact store that cannot be reached names SLIPWAY_S3_ENDPOINT, never the secret", async () => {
    const port = await freePort();
    const secret = "s3-secret-do-not-print-0123456789";
    const cacheDir = join(tmpdir(), `slipway-start-up-cache-${process.pid}`);
    const result = await start("gateway", {
      SLIPWAY_ARTIFACT_STORE: "s3",
      SLIPWAY_S3_ENDPOINT: `http://127.0.0.1:${port}`,
      SLIPWAY_S3_BUCKET: "artifacts",
      SLIPWAY_S3_ACCESS_KEY_ID: "slipway-key-id",
      SLIPWAY_S3_SECRET_ACCESS_KEY: secret,
      SLIPWAY_ARTIFACT_CACHE_DIR: cacheDir,
    }).finally(() => rm(cacheDir, { recursive: true, force: true }));
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `slipway cannot start: the artifact store cannot be used: HeadBucket s3://artifacts/ failed: cannot reach http://127.0.0.1:${port} (ECONNREFUSED); check SLIPWAY_S3_ENDPOINT and that the server is up\n`,
    );
  });

  test("a .env copied from .env.example lists every problem in plain words and exits 2", async () => {
    const result = await start("all", { APP_ID: "", PRIVATE_KEY_PATH: "/nowhere/key.pem", WEBHOOK_SECRET: "", SLIPWAY_GATEWAY_SECRET: "" });
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr,
      [
        "Slipway cannot start; fix these settings:",
        "  - SLIPWAY_GATEWAY_SECRET is empty (any random string, e.g. `openssl rand -hex 24`; scripts/start.sh makes one)",
        "  - PRIVATE_KEY_PATH=/nowhere/key.pem: there is no such file (the private key downloaded from the GitHub App's settings page)",
        "  - APP_ID is empty (the GitHub App's id, from its settings page)",
        "  - WEBHOOK_SECRET is empty (the webhook secret set on the GitHub App's settings page)",
        "",
      ].join("\n"),
    );
  });
});
