// The route key's promise (issue 13): whatever characters GitHub and slipway.yml allow in
// the names, no two functions or aliases share a key, and the old form's key is derived
// the way it used to be made, for redirects.
import assert from "node:assert/strict";
import { test } from "node:test";
import { functionSlug, legacyRouteKey, parseFunctionPath, routeKey } from "../../src/gateway/route-key.js";

test("an account named after an alias and a repository named after another owner get keys of their own", () => {
  const preview = routeKey(functionSlug("acme", "app", "hello"), "pr-1");
  const takeover = routeKey(functionSlug("pr-1", "app--acme", "hello"), "production");
  assert.equal(preview, "hello~app~acme~pr-1");
  assert.equal(takeover, "hello~app--acme~pr-1");
  assert.notEqual(preview, takeover);
  assert.notEqual(functionSlug("acme", "my.app", "api"), functionSlug("acme", "my-app", "api"));
  assert.notEqual(functionSlug("acme", "my_app", "api"), functionSlug("acme", "my-app", "api"));
});

test("every (owner, repo, function, alias) of a dense alphabet maps to a key of its own", () => {
  // Short names of the characters that made the old keys collide, every combination.
  const names = ["a", "-", "a-", "-a", "a--", "--a", "a.b", "a-b", "a_b", "a--b", "b", "a.", "pr-1"];
  const ids = ["a", "a-b", "a--b", "b"];
  const aliases = ["production", "pr-1", "pr-12"];
  const seen = new Map<string, string>();
  for (const owner of names) for (const repo of names) for (const id of ids) for (const alias of aliases) {
    const key = routeKey(functionSlug(owner, repo, id), alias);
    const who = JSON.stringify([owner, repo, id, alias]);
    assert.equal(seen.get(key), undefined, `${who} and ${seen.get(key)} share ${key}`);
    seen.set(key, who);
    assert.deepEqual(parseFunctionPath(`/fn/${key}/x?y`), { key, path: "/x?y" });
  }
  assert.equal(seen.size, names.length ** 2 * ids.length * aliases.length);
});

test("a name that could break a key out of its segment is refused", () => {
  assert.throws(() => functionSlug("acme", "a~b", "api"), /cannot be part of a function URL/);
  assert.throws(() => functionSlug("acme", "a/b", "api"), /cannot be part of a function URL/);
  assert.throws(() => functionSlug("acme", "", "api"), /cannot be part of a function URL/);
  assert.throws(() => routeKey("api~r~o", "a~b"), /cannot be an alias/);
  assert.equal(parseFunctionPath("/fn/../x"), null);
  assert.equal(parseFunctionPath("/fn/.hidden/"), null);
});

test("the old form of a key is made as it was: punctuation to '-', parts joined by '--'", () => {
  assert.equal(legacyRouteKey("hello~my.app~acme"), "hello--my-app--acme");
  assert.equal(legacyRouteKey("hello~app~acme~pr-1"), "hello--app--acme--pr-1");
  assert.equal(legacyRouteKey("hello~app--acme~pr-1"), "hello--app--acme--pr-1");
  assert.equal(legacyRouteKey("hello--app--acme"), null, "a key of the old form has none");
});
