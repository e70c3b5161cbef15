// Starts a real S3-compatible server for a test, as the test set-up does PostgreSQL and
// Redis: Versity's S3 gateway (versitygw, built by scripts/setup.sh) on a free port, over a
// directory of its own, with one bucket created. stop() ends it and removes the directory.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { freePort } from "./start-slipway-stack.js";

function findVersitygw(): string {
  const candidates = [
    process.env.SLIPWAY_TEST_VERSITYGW,
    ...(process.env.PATH ?? "").split(":").map((dir) => join(dir, "versitygw")),
    join(process.env.GOPATH ?? join(homedir(), "go"), "bin", "versitygw"),
  ];
  const found = candidates.find((path) => path && existsSync(path));
  if (!found) throw new Error("versitygw is not installed; run scripts/setup.sh (or set SLIPWAY_TEST_VERSITYGW to its path)");
  return found;
}

export async function startS3Server(options: { bucket?: string } = {}) {
  const binary = findVersitygw();
  const directory = await mkdtemp(join(tmpdir(), "slipway-s3-"));
  const port = await freePort();
  const accessKeyId = `slipway${randomBytes(6).toString("hex")}`;
  const secretAccessKey = randomBytes(24).toString("hex");
  const bucket = options.bucket ?? `slipway-test-${randomBytes(4).toString("hex")}`;
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(binary, ["--port", `127.0.0.1:${port}`, "posix", directory], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ROOT_ACCESS_KEY: accessKeyId, ROOT_SECRET_KEY: secretAccessKey },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));

  const client = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`versitygw exited with ${child.exitCode}:\n${output}`);
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      break;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`versitygw did not take a bucket within 30 s (${(error as Error).message}):\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  client.destroy();

  return {
    endpoint,
    bucket,
    accessKeyId,
    secretAccessKey,
    /** The directory versitygw keeps the bucket in (posix: one file per object). */
    directory,
    /** The settings that point Slipway at this server. */
    env: (prefix = ""): Record<string, string> => ({
      SLIPWAY_ARTIFACT_STORE: "s3",
      SLIPWAY_S3_ENDPOINT: endpoint,
      SLIPWAY_S3_BUCKET: bucket,
      SLIPWAY_S3_PREFIX: prefix,
      SLIPWAY_S3_ACCESS_KEY_ID: accessKeyId,
      SLIPWAY_S3_SECRET_ACCESS_KEY: secretAccessKey,
    }),
    output: () => output,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}

export type S3Server = Awaited<ReturnType<typeof startS3Server>>;
