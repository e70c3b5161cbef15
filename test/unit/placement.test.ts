// Placement by rendezvous hashing (src/gateway/rendezvous-nodes.ts): the same answer every
// time and on every node, whatever order the nodes are listed in; routes spread evenly over
// the nodes; and a node joining or leaving moves only the routes it takes or held. And the
// proof a gateway puts on a call it forwards to the node that runs it (forwarded-call.ts).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { signForwardedCall, verifyForwardedCall } from "../../src/gateway/forwarded-call.js";
import { rendezvousNodes } from "../../src/gateway/rendezvous-nodes.js";

const keys = Array.from({ length: 3000 }, (_, i) => `fn${i}~repo${i % 17}~acme~pr-${i}`);
const nodes = ["gw-a:3002", "gw-b:3002", "gw-c:3002", "gw-d:3002"];

describe("rendezvous placement", () => {
  test("is stable: the same key and nodes, in any order, give the same nodes", () => {
    for (const key of keys.slice(0, 200)) {
      const first = rendezvousNodes(key, nodes, 1);
      assert.equal(first.length, 1);
      assert.deepEqual(rendezvousNodes(key, [...nodes].reverse(), 1), first);
      assert.deepEqual(rendezvousNodes(key, [nodes[2]!, nodes[0]!, nodes[3]!, nodes[1]!], 1), first);
      assert.deepEqual(rendezvousNodes(key, nodes, 2)[0], first[0], "the first of two is the one of one");
    }
  });

  test("\"all\" and a count above the node count give every node once; no nodes give none", () => {
    assert.deepEqual([...rendezvousNodes("k", nodes, "all")].sort(), nodes);
    assert.deepEqual([...rendezvousNodes("k", [...nodes, nodes[0]!], 9)].sort(), nodes);
    assert.deepEqual(rendezvousNodes("k", [], 1), []);
    assert.deepEqual(rendezvousNodes("k", ["only"], 1), ["only"]);
  });

  test("spreads routes evenly: each of 4 nodes gets 25% ± 5 points of 3000 keys", () => {
    const counts = new Map<string, number>();
    for (const key of keys) {
      const [node] = rendezvousNodes(key, nodes, 1);
      counts.set(node!, (counts.get(node!) ?? 0) + 1);
    }
    assert.equal(counts.size, nodes.length);
    for (const [node, count] of counts) assert.ok(count > 600 && count < 900, `${node} got ${count} of ${keys.length}`);
  });

  test("a node joining takes only routes it now holds, about 1/n of them; the rest stay", () => {
    const joined = [...nodes, "gw-e:3002"];
    let moved = 0;
    for (const key of keys) {
      const [before] = rendezvousNodes(key, nodes, 1);
      const [after] = rendezvousNodes(key, joined, 1);
      if (before !== after) {
        moved++;
        assert.equal(after, "gw-e:3002", `${key} moved from ${before} to ${after}, not to the node that joined`);
      }
    }
    assert.ok(moved > keys.length * 0.15 && moved < keys.length * 0.25, `${moved} of ${keys.length} moved`);
  });

  test("a node leaving moves only its own routes, each to the node next in line", () => {
    const left = nodes.filter((node) => node !== "gw-b:3002");
    for (const key of keys) {
      const ranked = rendezvousNodes(key, nodes, "all");
      const [after] = rendezvousNodes(key, left, 1);
      if (ranked[0] !== "gw-b:3002") assert.equal(after, ranked[0], `${key} moved although its node stayed`);
      else assert.equal(after, ranked[1]);
    }
  });

  test("two nodes of three: a leaving node's routes keep one of their two nodes", () => {
    const three = nodes.slice(0, 3);
    for (const key of keys.slice(0, 500)) {
      const before = rendezvousNodes(key, three, 2);
      const after = rendezvousNodes(key, three.filter((node) => node !== "gw-a:3002"), 2);
      for (const node of before) if (node !== "gw-a:3002") assert.ok(after.includes(node), `${key}: ${node} lost the route`);
    }
  });
});

describe("a forwarded call's proof", () => {
  const secret = "s".repeat(32);
  const deploymentId = "0f6c2a8e-3b1d-4c5e-9f7a-2b3c4d5e6f70";
  test("a gateway's signature is accepted for the same request, and names the deployment", () => {
    const value = signForwardedCall(secret, deploymentId, "POST", "/fn/a~b~c~pr-1/x?y=1");
    assert.equal(verifyForwardedCall(secret, value, "POST", "/fn/a~b~c~pr-1/x?y=1"), deploymentId);
  });
  test("another secret, request, deployment or a stale time is refused", () => {
    const now = Date.now();
    const value = signForwardedCall(secret, deploymentId, "GET", "/fn/a~b~c/", now);
    assert.equal(verifyForwardedCall("t".repeat(32), value, "GET", "/fn/a~b~c/", now), null);
    assert.equal(verifyForwardedCall(secret, value, "POST", "/fn/a~b~c/", now), null);
    assert.equal(verifyForwardedCall(secret, value, "GET", "/fn/a~b~c/other", now), null);
    assert.equal(verifyForwardedCall(secret, value.replace("0f6c", "1f6c"), "GET", "/fn/a~b~c/", now), null);
    assert.equal(verifyForwardedCall(secret, value, "GET", "/fn/a~b~c/", now + 301_000), null);
    assert.equal(verifyForwardedCall(secret, "forged", "GET", "/fn/a~b~c/", now), null);
    assert.equal(verifyForwardedCall(secret, undefined, "GET", "/fn/a~b~c/", now), null);
  });
});
