// Owns how gateways agree on routes. Postgres holds them; each gateway serves its own copy.
// A gateway that changes a function's routes announces it over Redis pub/sub, and every
// other live gateway re-reads that function's routes, applies them (starting its container
// if it has to) and confirms. The announcing gateway waits for those confirmations before
// it answers, so a switch that Slipway reports as done is served by every live gateway.
//
// Live means registered: each gateway keeps its id in a Redis sorted set, scored with the
// time its registration runs out, and renews it every few seconds. A gateway that has not
// confirmed within the timeout is named in the answer (and logged); one that died drops out
// of the set once its registration runs out, and is no longer waited for from then on. Every gateway also re-reads all routes every
// SLIPWAY_ROUTE_RECONCILE_SECONDS, which repairs a copy that missed an announcement.
import type { Redis } from "ioredis";
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";

export type RouteSync = {
  readonly gatewayId: string;
  /** Announces a change of the function's routes; resolves once every other live gateway applied it, or at the timeout, naming those that did not. */
  announce(functionId: string): Promise<{ unconfirmed: string[] }>;
  close(): Promise<void>;
};

/** Said of a switch that some gateway did not confirm: those may still serve the version it replaced. */
export function unconfirmedNote(gateways: string[] | undefined): string {
  if (!gateways?.length) return "";
  return `${gateways.length} gateway${gateways.length === 1 ? "" : "s"} did not confirm serving it (${gateways.join(", ")}); see their logs`;
}

type Announcement = { functionId: string; change: string; from: string };
type Confirmation = { change: string; gateway: string; ok: boolean };

const registrationMs = 6_000;
const renewEveryMs = 2_000;

export async function startRouteSync(options: {
  prefix: string;
  publisher: Redis;
  subscriber: Redis;
  confirmTimeoutMs: number;
  log: Logger;
  /** Re-reads and applies the function's routes; throws if this gateway cannot serve them. */
  refresh(functionId: string): Promise<void>;
}): Promise<RouteSync> {
  const { publisher, subscriber, log } = options;
  const gatewayId = randomUUID();
  const registry = `${options.prefix}:gateways`;
  const changes = `${options.prefix}:routes`;
  const confirmations = `${options.prefix}:routes:confirmed`;
  const waiting = new Map<string, { remaining: Set<string>; failed: string[]; done(): void }>();

  const register = () => publisher.zadd(registry, Date.now() + registrationMs, gatewayId);
  await register();
  const renew = setInterval(() => {
    register().catch((error: Error) => log.warn({ err: { message: error.message } }, "could not renew this gateway's registration"));
  }, renewEveryMs);
  renew.unref();

  await subscriber.subscribe(changes, confirmations);
  subscriber.on("message", (channel: string, message: string) => {
    if (channel === confirmations) {
      const confirmation = JSON.parse(message) as Confirmation;
      const wait = waiting.get(confirmation.change);
      if (!wait) return;
      if (!wait.remaining.delete(confirmation.gateway)) return;
      // A gateway that could not apply the change has stopped serving the route instead.
      if (!confirmation.ok) wait.failed.push(confirmation.gateway);
      if (wait.remaining.size === 0) wait.done();
      return;
    }
    if (channel !== changes) return;
    const announcement = JSON.parse(message) as Announcement;
    if (announcement.from === gatewayId) return;
    options.refresh(announcement.functionId).then(
      () => true,
      (error: Error) => {
        log.error({ err: { message: error.message }, functionId: announcement.functionId }, "could not apply another gateway's route change");
        return false;
      },
    ).then((ok) => publisher.publish(confirmations, JSON.stringify({ change: announcement.change, gateway: gatewayId, ok } satisfies Confirmation)))
      .catch((error: Error) => log.error({ err: { message: error.message } }, "could not confirm a route change"));
  });

  async function liveGateways(): Promise<string[]> {
    const now = Date.now();
    await publisher.zremrangebyscore(registry, "-inf", now);
    return publisher.zrangebyscore(registry, now, "+inf");
  }

  return {
    gatewayId,
    async announce(functionId) {
      const change = randomUUID();
      const remaining = new Set((await liveGateways()).filter((id) => id !== gatewayId));
      const failed: string[] = [];
      let timer: NodeJS.Timeout | undefined;
      let recheck: NodeJS.Timeout | undefined;
      const confirmed = new Promise<void>((resolve) => {
        if (remaining.size === 0) return resolve();
        waiting.set(change, { remaining, failed, done: resolve });
        timer = setTimeout(resolve, options.confirmTimeoutMs);
        // A gateway that dies meanwhile is not waited for once its registration runs out.
        recheck = setInterval(() => {
          liveGateways().then((live) => {
            for (const id of remaining) if (!live.includes(id)) remaining.delete(id);
            if (remaining.size === 0) resolve();
          }, () => {});
        }, renewEveryMs);
      });
      try {
        await publisher.publish(changes, JSON.stringify({ functionId, change, from: gatewayId } satisfies Announcement));
        await confirmed;
      } finally {
        clearTimeout(timer);
        clearInterval(recheck);
        waiting.delete(change);
      }
      const unconfirmed = [...remaining, ...failed];
      if (unconfirmed.length) log.warn({ functionId, unconfirmed }, "gateways did not confirm a route change (see their logs)");
      return { unconfirmed };
    },
    async close() {
      clearInterval(renew);
      await publisher.zrem(registry, gatewayId).catch(() => {});
      for (const wait of waiting.values()) wait.done();
    },
  };
}
