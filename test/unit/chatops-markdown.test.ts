// Replies to comment commands as GitHub shows them: rendered by a real GFM renderer
// (marked, with GitHub's table rules) and read back as HTML, so a row that grows a cell or a
// header that stops being one fails here. Refusals read as a person would say them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { JSDOM } from "jsdom";
import { marked } from "marked";
import { accessFromPermission, describeMissingAccess } from "../../src/github/chatops/can-run-command.js";
import { helpText, replyBody, statusTable } from "../../src/github/chatops/render-reply.js";

function tablesOf(markdown: string): string[][][] {
  const html = marked.parse(markdown, { gfm: true, async: false });
  const document = new JSDOM(html).window.document;
  return [...document.querySelectorAll("table")].map((table) =>
    [...table.querySelectorAll("tr")].map((row) => [...row.querySelectorAll("th, td")].map((c) => c.textContent ?? "")),
  );
}

test("/slipway status renders as a table of five columns under its 🚀", () => {
  const reply = replyBody(
    "/slipway status",
    "done",
    statusTable("acme/app", [
      { name: "api", version: 4, pinned: true, url: "https://fn.example.com/fn/api~app~acme/", latest: "v5 ready" },
      { name: "worker", version: null, pinned: false, url: "https://fn.example.com/fn/worker~app~acme/", latest: "v1 failed" },
    ]),
  );
  const tables = tablesOf(reply);
  assert.equal(tables.length, 1, reply);
  assert.deepEqual(tables[0], [
    ["function", "production", "pinned", "latest deployment", "URL"],
    ["api", "v4", "yes", "v5 ready", "https://fn.example.com/fn/api~app~acme/"],
    ["worker", "–", "no", "v1 failed", "https://fn.example.com/fn/worker~app~acme/"],
  ]);
  assert.match(reply, /🚀 What each function of \*\*acme\/app\*\* serves:/);
});

test("a table handed to replyBody on its own still renders, and a pipe in a cell stays in its cell", () => {
  const bare = replyBody("/slipway status", "done", "| a | b |\n| --- | --- |\n| 1 | 2 |");
  assert.deepEqual(tablesOf(bare)[0], [["a", "b"], ["1", "2"]]);
  const piped = statusTable("acme/app", [{ name: "api", version: 1, pinned: false, url: "https://x/fn/api/", latest: "v1 failed | odd" }]);
  assert.equal(tablesOf(piped)[0]![1]!.length, 5);
  assert.equal(tablesOf(piped)[0]![1]![3], "v1 failed | odd");
});

test("the help table renders with two cells a row, escaped pipes included", () => {
  const [table] = tablesOf(replyBody("/slipway help", "done", helpText));
  assert.ok(table && table.length >= 7);
  for (const row of table) assert.equal(row.length, 2, row.join(" ‖ "));
  assert.ok(table.some((row) => row[0] === "/slipway rollback [function] [vN|sha|deployment-id]"));
});

test("a refusal says what access the person has and what the action needs", () => {
  const read = accessFromPermission({ permission: "read", role_name: "read" });
  assert.equal(
    describeMissingAccess("ana", read, "acme/app", "`/slipway rollback`"),
    "@ana has read access to acme/app; `/slipway rollback` needs write access (write, maintain or admin, or a custom role built on them)",
  );
  assert.match(describeMissingAccess("bo", accessFromPermission({ permission: "none", role_name: "" }), "acme/app", "the **rollback** button"), /^@bo has no access to acme\/app; the \*\*rollback\*\* button needs write access/);
  assert.match(describeMissingAccess("cy", accessFromPermission(null), "acme/app", "approving a fork's build"), /^@cy has no access to acme\/app;/);
  assert.match(describeMissingAccess("di", accessFromPermission({ permission: "read", role_name: "triage" }), "acme/app", "`/slipway status`"), /^@di has triage access to acme\/app;/);
  assert.doesNotMatch(describeMissingAccess("bo", accessFromPermission({ permission: "none", role_name: "none" }), "acme/app", "x"), /none/);
});
