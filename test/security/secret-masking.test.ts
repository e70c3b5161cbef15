// Issue 13, "secrets masked": a build's output has every secret variable's value, and its
// base64 and URL-encoded forms, replaced by `***` before it is stored, streamed or reported,
// as GitHub Actions does. First the masker on its own, then a real build that prints a
// secret every way it can, read back from its check run, its stored log and its live log.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { createApiToken } from "../../src/api/api-tokens.js";
import { buildLogKey, followBuildLog } from "../../src/pipeline/build-log-stream.js";
import { upsertRepository } from "../../src/store/repositories.js";
import { createSecretMasker } from "../../src/variables/mask-secrets.js";
import { pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

/** Everything the masker lets through, chunk by chunk, then its held-back end. */
function mask(secrets: string[], chunks: string[]): string {
  const masker = createSecretMasker(secrets);
  return chunks.map((chunk) => masker.push(chunk)).join("") + masker.flush();
}

/** Every way of cutting `text` into two chunks. */
function everySplit(text: string): [string, string][] {
  return Array.from({ length: text.length + 1 }, (_, i) => [text.slice(0, i), text.slice(i)]);
}

describe("the secret masker", () => {
  const secret = "hunter2-correct-horse";

  test("a value is masked wherever it appears, as often as it appears", () => {
    assert.equal(mask([secret], [`token=${secret}\nagain ${secret}${secret}.\n`]), "token=***\nagain ***.\n");
  });

  test("its base64 is masked, alone and inside a longer base64 text at any offset", () => {
    const alone = Buffer.from(secret).toString("base64");
    assert.equal(mask([secret], [`b64 ${alone}\n`]), "b64 ***\n");
    for (const prefix of ["user:", "ab:", "x:"]) {
      const whole = Buffer.from(`${prefix}${secret}`).toString("base64");
      const out = mask([secret], [whole]);
      assert.ok(out.includes("***"), `${prefix}: ${out}`);
      // What is left shows at most the bytes around the secret, never the secret.
      assert.ok(out.length < whole.length, `${prefix}: ${out}`);
      assert.ok(!Buffer.from(out.replace("***", ""), "base64").toString("latin1").includes("correct-horse"));
    }
  });

  test("its URL-encoded form is masked", () => {
    const value = "p@ss word/with+symbols&more";
    const encoded = encodeURIComponent(value);
    assert.notEqual(encoded, value);
    assert.equal(mask([value], [`GET /login?password=${encoded} HTTP/1.1\n`]), "GET /login?password=*** HTTP/1.1\n");
  });

  test("a value split across two chunks, at every place, is still masked", () => {
    const line = `before ${secret} after\n`;
    for (const [first, second] of everySplit(line)) {
      assert.equal(mask([secret], [first, second]), "before *** after\n", JSON.stringify([first, second]));
    }
  });

  test("a value cut into one-character chunks is masked, and the rest comes out in order", () => {
    const text = `a${secret}b${Buffer.from(secret).toString("base64")}c`;
    assert.equal(mask([secret], [...text]), "a***b***c");
  });

  test("output is held back only as long as a secret could still be completed", () => {
    const masker = createSecretMasker([secret]);
    const first = masker.push("x".repeat(100));
    assert.equal(first, "x".repeat(100 - (Buffer.from(secret).toString("base64").length - 1)));
    assert.equal(first + masker.push("y") + masker.flush(), `${"x".repeat(100)}y`);
  });

  test("overlapping secrets are masked as one", () => {
    assert.equal(mask(["abcdef", "defghi"], ["xxabcdefghixx"]), "xx***xx");
    assert.equal(mask(["abcdef", "defghi"], ["xxabcde", "fghixx"]), "xx***xx");
  });

  test("each line of a multi-line secret is masked on its own", () => {
    const key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkq\n-----END KEY-----";
    assert.equal(mask([key], ["line: MIIEvQIBADANBgkq\n"]), "line: ***\n");
  });

  test("values shorter than 4 characters are left alone; no secrets, no change", () => {
    assert.equal(mask(["abc", "", "x"], ["abc x abcabc\n"]), "abc x abcabc\n");
    assert.equal(mask(["abcd"], ["abcd abc\n"]), "*** abc\n");
    const none = createSecretMasker([]);
    assert.equal(none.push("anything at all"), "anything at all");
    assert.equal(none.flush(), "");
  });
});

describe("a build that prints a secret", { timeout: 5 * 60_000 }, () => {
  const owner = "masked";
  const repoName = "leaky";
  const secretValue = `s3cr3t ${randomBytes(6).toString("hex")}/+&=`;
  const shortValue = "q7z";
  const forms = {
    plain: secretValue,
    base64: Buffer.from(secretValue).toString("base64"),
    urlEncoded: encodeURIComponent(secretValue),
  };
  // Printed plainly, in two writes a second apart (so in two chunks), base64, URL-encoded,
  // and base64 inside a longer text; then the build fails, so its log is the check run's text.
  const leak = `printf 'plain: %s\\n' "$API_TOKEN"
printf 'split: %s' "\${API_TOKEN:0:6}"; sleep 1; printf '%s\\n' "\${API_TOKEN:6}"
node -e 'const t = process.env.API_TOKEN; console.log("base64:", Buffer.from(t).toString("base64")); console.log("url:", encodeURIComponent(t)); console.log("basic:", Buffer.from("user:" + t).toString("base64"))'
printf 'short: %s\\n' "$SHORT_TOKEN"
exit 3
`;
  const slipwayYml = `functions:\n  - id: leaky\n    runtime: node-20\n    root: fn\n    commands: bash leak.sh\n`;
  let stack: SlipwayStack;

  before(async () => {
    stack = await startSlipwayStack({ env: { SLIPWAY_MASTER_KEY: randomBytes(32).toString("hex") } });
    const repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 1314 });
    await upsertRepository(stack.db, { id: repo.id, installationId: 1314, owner, name: repoName, cloneUrl: repo.clone_url, defaultBranch: "main" });
    const server = (await createApiToken(stack.db, { name: "operator", kind: "server" })).token;
    for (const [name, value] of [["API_TOKEN", secretValue], ["SHORT_TOKEN", shortValue]]) {
      const put = await fetch(`${stack.appUrl}/v1/repositories/${owner}/${repoName}/variables/${name}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${server}`, "content-type": "application/json" },
        body: JSON.stringify({ value }),
      });
      assert.equal(put.status, 200, await put.text());
    }
    const commit = await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": slipwayYml, "fn/leak.sh": leak, "fn/index.js": "module.exports = async (c) => c.res.text('hi');\n" }, message: "leak" });
    await stack.deliver("push", pushPayload({ repo, before: commit.before, after: commit.sha, message: "leak" }));
  });

  after(async () => {
    if (process.env.SLIPWAY_TEST_LOG_FILE && stack) (await import("node:fs")).writeFileSync(process.env.SLIPWAY_TEST_LOG_FILE, stack.logs());
    if (stack) await stack.stop();
  });

  const assertMasked = (where: string, text: string) => {
    for (const [form, value] of Object.entries(forms)) assert.ok(!text.includes(value), `${where} shows the secret (${form}):\n${text}`);
    assert.match(text, /plain: \*\*\*\n/, where);
    assert.match(text, /split: \*\*\*\n/, where);
    assert.match(text, /base64: \*\*\*\n/, where);
    assert.match(text, /url: \*\*\*\n/, where);
    assert.match(text, /basic: \S*\*\*\*\S*\n/, where);
    assert.match(text, /short: q7z\n/, `${where}: values under 4 characters are not masked`);
  };

  test("its check run, stored log tail and live log show *** instead", async () => {
    const run = await stack.emulator.waitFor(
      () => stack.emulator.checkRuns(owner, repoName).find((r) => r.name === "slipway / leaky" && r.status === "completed"),
      { timeoutMs: 3 * 60_000, intervalMs: 500, describe: () => stack.logs().slice(-4000) },
    );
    assert.equal(run.conclusion, "failure");
    assertMasked("the check run", run.output?.text ?? "");

    const row = (await stack.db.query<{ id: string; log_tail: string }>("select id, log_tail from deployments")).rows[0]!;
    assertMasked("the stored log tail", row.log_tail);

    const redis = new Redis(stack.env.REDIS_URL!, { maxRetriesPerRequest: null });
    try {
      const texts: string[] = [];
      await followBuildLog(redis, buildLogKey(stack.env.SLIPWAY_QUEUE_PREFIX!, row.id), (text) => texts.push(text), { signal: AbortSignal.timeout(10_000), isOver: async () => true });
      assertMasked("the live log", texts.join(""));
    } finally {
      redis.disconnect();
    }
  });
});
