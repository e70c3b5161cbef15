// Following nginx's call log: lines arrive whole however the writes split them, and a
// rotation loses none, including those nginx flushes into the old file as it reopens.
import assert from "node:assert/strict";
import { appendFileSync, existsSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { followAccessLog } from "../../src/gateway/follow-access-log.js";

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), what);
}

test("lines come whole, and a rotation keeps every line: before it, flushed into the old file, and after it", async () => {
  const dir = await mkdtemp(join(tmpdir(), "slipway-follow-"));
  const path = join(dir, "calls.log");
  const lines: string[] = [];
  const errors: Error[] = [];
  let reopened = 0;
  writeFileSync(path, "one\ntw");
  const follower = await followAccessLog({
    path,
    intervalMs: 10,
    rotateAtBytes: 20,
    // As nginx does on SIGUSR1: buffered lines go to the old file, new ones to a new file.
    reopen: () => {
      reopened++;
      appendFileSync(`${path}.old`, "flushed\n");
      writeFileSync(path, "after\n");
    },
    onLine: (line) => lines.push(line),
    onError: (error) => errors.push(error),
  });
  try {
    await until(() => lines.length === 1, "the whole first line");
    assert.deepEqual(lines, ["one"], "a line still being written waits for its end");
    appendFileSync(path, "o\nthree and some more\n");
    await until(() => lines.includes("after"), "the line written after the rotation");
    assert.deepEqual(lines, ["one", "two", "three and some more", "flushed", "after"]);
    assert.equal(reopened, 1);
    assert.ok(!existsSync(`${path}.old`), "the old file is removed");
    appendFileSync(path, "last\n");
    await until(() => lines.includes("last"), "lines keep coming from the new file");
    assert.deepEqual(errors, []);
  } finally {
    await follower.close();
    await rm(dir, { recursive: true, force: true });
  }
});
