// Issue 13, "bounded input everywhere": slipway.yml is refused, with a problem on a line,
// when it is too large, lists too many functions, has overlong strings or YAML aliases that
// expand without end; and a build's live log (Redis) stops at its byte budget with a line
// saying so. The last tests push such files through the app and read the failed
// `slipway / config` check runs, and run a build that prints more than its live log holds.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { maxConfigBytes, parseSlipwayConfig, type ParseResult } from "../../src/config/parse-slipway-config.js";
import { buildLogKey, createBuildLogAppender, endBuildLog, followBuildLog } from "../../src/pipeline/build-log-stream.js";
import { pushPayload } from "../emulator/webhooks.js";
import { startSlipwayStack, type SlipwayStack } from "../support/start-slipway-stack.js";

const runtimes = ["node-20"];

function problemsOf(result: ParseResult) {
  assert.ok(!result.ok, "the file is refused");
  return result.problems;
}

// Nine levels of nine aliases each: 9^9 (387 million) strings once expanded.
const billionLaughs = [
  `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]`,
  ...["b", "c", "d", "e", "f", "g", "h", "i"].map((name, index) => {
    const previous = "abcdefgh"[index];
    return `${name}: &${name} [${Array(9).fill(`*${previous}`).join(",")}]`;
  }),
  "functions:",
  "  - id: lol",
  "    runtime: node-20",
  "    variables: { X: *i }",
].join("\n");

const functions = (count: number) => `functions:\n${Array.from({ length: count }, (_, i) => `  - id: fn-${i}\n    runtime: node-20\n`).join("")}`;

describe("slipway.yml limits", () => {
  test("a billion-laughs alias bomb is a problem at the first alias, quickly", () => {
    const started = performance.now();
    const [problem, ...others] = problemsOf(parseSlipwayConfig(billionLaughs, runtimes));
    assert.ok(performance.now() - started < 2_000, "refused without expanding the aliases");
    assert.deepEqual(others, []);
    assert.match(problem!.message, /YAML aliases .* too often/);
    assert.equal(problem!.line, 2);
    assert.equal(problem!.column, 8);
  });

  test("a few aliases are still fine", () => {
    const result = parseSlipwayConfig("functions:\n  - id: a\n    runtime: &node node-20\n  - id: b\n    runtime: *node\n", runtimes);
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.config.functions[1]!.runtime, "node-20");
  });

  test("an alias to no anchor is a problem on its line, not an exception", () => {
    const [problem] = problemsOf(parseSlipwayConfig("functions:\n  - id: a\n    runtime: *nowhere\n", runtimes));
    assert.match(problem!.message, /Unresolved alias/);
    assert.equal(problem!.line, 3);
  });

  test("a file over 64 KiB is refused before it is parsed", () => {
    const padding = `# ${"x".repeat(1000)}\n`.repeat(70);
    const text = `${functions(1)}${padding}`;
    assert.ok(Buffer.byteLength(text) > maxConfigBytes);
    const problems = problemsOf(parseSlipwayConfig(text, runtimes));
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.line, 1);
    assert.equal(problems[0]!.message, `the file is ${Math.ceil(Buffer.byteLength(text) / 1024)} KiB; slipway.yml may be at most 64 KiB`);
    // Counted in bytes: 22,000 three-byte characters are 66,000 bytes.
    assert.ok(!parseSlipwayConfig(`${functions(1)}# ${"€".repeat(22_000)}\n`, runtimes).ok);
  });

  test("at most 100 functions, reported on the functions key", () => {
    assert.ok(parseSlipwayConfig(functions(100), runtimes).ok);
    const problems = problemsOf(parseSlipwayConfig(functions(101), runtimes));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.message, /^functions: lists more than 100 functions/);
    assert.equal(problems[0]!.line, 2, "the line of the list");
  });

  test("overlong commands, paths, branches and list lengths are problems on their lines", () => {
    const text = [
      "functions:",
      "  - id: a",
      "    runtime: node-20",
      `    commands: "${"echo hi && ".repeat(400)}"`,
      `    branch: ${"b".repeat(300)}`,
      `    root: ${"d/".repeat(600)}x`,
      `    watch: [${Array(101).fill("src/**").join(", ")}]`,
      "",
    ].join("\n");
    const problems = problemsOf(parseSlipwayConfig(text, runtimes));
    const byPath = new Map(problems.map((p) => [p.path, p]));
    assert.match(byPath.get("functions[0].commands")?.message ?? "", /at most 4096 characters/);
    assert.equal(byPath.get("functions[0].commands")?.line, 4);
    assert.match(byPath.get("functions[0].branch")?.message ?? "", /at most 255 characters/);
    assert.equal(byPath.get("functions[0].branch")?.line, 5);
    assert.match(byPath.get("functions[0].root")?.message ?? "", /at most 1024 characters/);
    assert.equal(byPath.get("functions[0].root")?.line, 6);
    assert.equal(byPath.get("functions[0].watch")?.line, 7);
    // The function id's own limit stays 40 characters.
    const longId = problemsOf(parseSlipwayConfig(`functions:\n  - id: ${"a".repeat(41)}\n    runtime: node-20\n`, runtimes));
    assert.match(longId[0]!.message, /1-40 characters/);
    assert.equal(longId[0]!.line, 2);
  });
});

describe("the live build log's byte budget", () => {
  const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { maxRetriesPerRequest: null });
  const key = buildLogKey(`slipway-test-${randomBytes(4).toString("hex")}`, "bounded");

  after(async () => {
    await redis.del(key);
    redis.disconnect();
  });

  test("stops at the budget, cuts the chunk that reaches it, and says so once", async () => {
    const budget = 1024 * 1024;
    const append = createBuildLogAppender(redis, key, budget);
    // 2 MB of output in 64 KiB chunks, the last character of each a three-byte one.
    const chunk = `${"x".repeat(64 * 1024 - 4)}€\n`;
    for (let i = 0; i < 32; i++) await append(chunk);
    await endBuildLog(redis, key, "ready");

    const texts: string[] = [];
    const ended = await followBuildLog(redis, key, (text) => texts.push(text), { signal: AbortSignal.timeout(10_000), isOver: async () => true });
    assert.equal(ended, "ready");
    const streamed = texts.join("");
    const cut = streamed.indexOf("\n[slipway] The live log was cut at 1 MB (SLIPWAY_BUILD_LOG_MAX_MB)");
    assert.ok(cut > 0, "the cut is said in the log");
    assert.equal(streamed.split("[slipway] The live log was cut").length, 2, "said once");
    const before = Buffer.byteLength(streamed.slice(0, cut));
    assert.ok(before <= budget && before > budget - 4, `${before} bytes before the cut line`);
    assert.ok(!streamed.includes("\uFFFD"), "no character split at the cut");
    assert.ok(Buffer.byteLength(streamed) < budget + 1024, "nothing after the cut line");
    assert.equal(texts.length, 17, "16 whole chunks, then the cut one with its line");
  });
});

describe("limits through the app and the worker", { timeout: 5 * 60_000 }, () => {
  const owner = "bounded";
  const repoName = "limits";
  let stack: SlipwayStack;
  let repo: Awaited<ReturnType<SlipwayStack["emulator"]["createRepo"]>>;

  before(async () => {
    stack = await startSlipwayStack({ env: { SLIPWAY_BUILD_LOG_MAX_MB: "1" } });
    repo = await stack.emulator.createRepo({ owner, name: repoName, installationId: 1313 });
  });

  after(async () => {
    if (stack) {
      assert.deepEqual(stack.emulator.validationErrors, []);
      await stack.stop();
    }
  });

  async function configRun(slipwayYml: string, message: string) {
    const commit = await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": slipwayYml }, message });
    await stack.deliver("push", pushPayload({ repo, before: commit.before, after: commit.sha, message }));
    return stack.emulator.waitFor(
      () => stack.emulator.checkRuns(owner, repoName, { headSha: commit.sha, name: "slipway / config" }).find((run) => run.status === "completed"),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  }

  test("an alias bomb, a 2 MB file and 101 functions each end in a failed config run with a line", async () => {
    const bomb = await configRun(billionLaughs, "alias bomb");
    assert.equal(bomb.conclusion, "failure");
    assert.match(bomb.output?.summary ?? "", /line 2, column 8: YAML aliases/);

    // Over GitHub's 1 MB, where the contents API leaves the content out.
    const huge = await configRun(`${functions(1)}${`# ${"x".repeat(1000)}\n`.repeat(2100)}`, "huge file");
    assert.equal(huge.conclusion, "failure");
    assert.match(huge.output?.summary ?? "", /line 1, column 1: the file is 2\.0 MiB; slipway\.yml may be at most 64 KiB/);

    const many = await configRun(functions(101), "too many functions");
    assert.equal(many.conclusion, "failure");
    assert.match(many.output?.summary ?? "", /line 2, column \d+: functions: lists more than 100 functions/);
    assert.equal((await stack.db.query("select 1 from functions")).rowCount, 0, "nothing was registered");
  });

  test("a build printing 3 MB streams 1 MB live, says where it was cut, and goes on; its stored tail keeps the end", async () => {
    // 3 MB of lines, then the last words; the build fails, so nothing is activated.
    const noisy = `node -e 'for (let i = 0; i < 30000; i++) console.log(String(i).padStart(8, "0") + " " + "n".repeat(91))'\necho THE-END\nexit 1\n`;
    const slipwayYml = "functions:\n  - id: noisy\n    runtime: node-20\n    root: fn\n    commands: bash noisy.sh\n";
    const commit = await stack.emulator.commit({ owner, repo: repoName, files: { "slipway.yml": slipwayYml, "fn/noisy.sh": noisy, "fn/index.js": "module.exports = async (c) => c.res.text('hi');\n" }, message: "noisy" });
    await stack.deliver("push", pushPayload({ repo, before: commit.before, after: commit.sha, message: "noisy" }));
    const run = await stack.emulator.waitFor(
      () => stack.emulator.checkRuns(owner, repoName, { headSha: commit.sha, name: "slipway / noisy" }).find((r) => r.status === "completed"),
      { timeoutMs: 3 * 60_000, intervalMs: 500, describe: () => stack.logs().slice(-4000) },
    );
    assert.equal(run.conclusion, "failure");
    const row = (await stack.db.query<{ id: string; log_tail: string }>("select d.id, d.log_tail from deployments d join functions f on f.id = d.function_id where f.name = 'noisy'")).rows[0]!;
    assert.match(row.log_tail, /00029999 n+\nTHE-END\n/, "the stored tail keeps the end");

    const redis = new Redis(stack.env.REDIS_URL!, { maxRetriesPerRequest: null });
    try {
      const texts: string[] = [];
      const ended = await followBuildLog(redis, buildLogKey(stack.env.SLIPWAY_QUEUE_PREFIX!, row.id), (text) => texts.push(text), { signal: AbortSignal.timeout(10_000), isOver: async () => true });
      assert.equal(ended, "failed");
      const live = texts.join("");
      assert.match(live, /\n\[slipway\] The live log was cut at 1 MB \(SLIPWAY_BUILD_LOG_MAX_MB\)/);
      assert.ok(Buffer.byteLength(live) < 1024 * 1024 + 1024, `${Buffer.byteLength(live)} bytes streamed live`);
      assert.ok(!live.includes("THE-END"), "nothing after the cut is streamed");
    } finally {
      redis.disconnect();
    }
  });
});
