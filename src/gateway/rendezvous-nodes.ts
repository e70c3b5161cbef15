// Owns placement by rendezvous (highest-random-weight) hashing: each node gets a weight for
// a route key from a hash of the pair, and the route goes to the `count` heaviest nodes.
// Every node that sees the same live nodes computes the same answer without talking to the
// others; a node joining takes over only the routes it now outweighs (about 1/n of them),
// and a node leaving moves only its own routes, each to the next heaviest node.
import { createHash } from "node:crypto";

function weight(key: string, nodeId: string): bigint {
  return createHash("sha256").update(key).update("\0").update(nodeId).digest().readBigUInt64BE(0);
}

/** The nodes (ids) the route key goes to, heaviest first: `count` of them, or every node. */
export function rendezvousNodes(key: string, nodeIds: readonly string[], count: number | "all"): string[] {
  const ranked = [...new Set(nodeIds)]
    .map((id) => ({ id, weight: weight(key, id) }))
    .sort((a, b) => (a.weight === b.weight ? (a.id < b.id ? -1 : 1) : a.weight > b.weight ? -1 : 1))
    .map((node) => node.id);
  return count === "all" ? ranked : ranked.slice(0, count);
}
