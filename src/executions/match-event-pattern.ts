// Decides whether an event name matches a subscription pattern. Names are dot-separated
// segments (`deployments.hello.ready`, `orders.created`); in a pattern `*` stands for
// exactly one segment and a final `**` for any number of segments (at least one).
export function matchEventPattern(pattern: string, name: string): boolean {
  const want = pattern.split(".");
  const have = name.split(".");
  for (let i = 0; i < want.length; i++) {
    const segment = want[i]!;
    if (segment === "**" && i === want.length - 1) return have.length > i;
    if (i >= have.length) return false;
    if (segment !== "*" && segment !== have[i]) return false;
  }
  return want.length === have.length;
}

export const eventNamePattern = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/i;
export const eventSubscriptionPattern = /^([a-z0-9_-]+|\*)(\.([a-z0-9_-]+|\*))*(\.\*\*)?$|^\*\*$/i;
