// Owns what becomes of a verified webhook whose handler did not finish. GitHub never
// redelivers by itself, so every delivery is kept with its payload (webhook_deliveries) before
// it is handled, and the app tries again on its own: after a handler failed (GitHub's API or
// the database briefly down, a race lost), and after an app died half-way, once the try's
// lease has run out. Retries go through Probot's `receive`, so they run the same handlers.
//
// Only handlers that are safe to run twice are retried: a push, a pull request and a re-run
// find the build their delivery already made instead of making another. A comment command or
// a check-run button is not (a second `/slipway rollback` goes one version further back), so
// those are recorded, never run twice for one delivery, and given up when they fail.
import type { Probot } from "probot";
import type { Logger } from "pino";
import { webhookDeliveries } from "../metrics/metrics.js";
import type { Database } from "../store/create-database.js";
import { claimDueDelivery, markDeliveryFailed, markDeliveryProcessed, receiveDelivery } from "../store/webhook-deliveries.js";

export type InboxSettings = {
  /** How long a try may take before a retry may take it over, and the first retry's delay. */
  retrySeconds: number;
  /** Tries in all, the first included, before a delivery is given up as failed. */
  maxAttempts: number;
};

type DeliveryContext = { id: string; name: string; payload: unknown };

/** Deliveries (`event` or `event.action`) whose handlers may run again for the same delivery. */
export const retriedEvents = ["push", "pull_request", "check_run.rerequested", "check_suite.rerequested"];

const actionOf = (payload: unknown): string | null => {
  const action = (payload as { action?: unknown }).action;
  return typeof action === "string" ? action : null;
};

const isRetried = (name: string, action: string | null) => retriedEvents.includes(name) || (action !== null && retriedEvents.includes(`${name}.${action}`));

// The first line of what went wrong, short; Slipway puts no token in an error message.
const describe = (error: unknown) => (error instanceof Error ? error.message : String(error)).split("\n")[0]!.slice(0, 500);

export type WebhookInbox = {
  /** Wraps a Probot handler so that its deliveries are recorded, deduplicated and retried. */
  handle<C extends DeliveryContext>(handler: (context: C) => Promise<void>): (context: C) => Promise<void>;
  /** Retries due deliveries every few seconds through `probot.receive`; returns a stop function. */
  start(probot: Probot): () => Promise<void>;
  /** One pass of the retry loop: every delivery due now. Returns how many were retried. */
  retryDue(probot: Probot): Promise<number>;
};

export function createWebhookInbox(deps: { db: Database; log: Logger; settings: InboxSettings }): WebhookInbox {
  const { db, settings } = deps;
  const log = deps.log.child({ component: "webhook-inbox" });
  const backoffSeconds = (attempts: number) => Math.min(settings.retrySeconds * 2 ** (attempts - 1), 3600);

  const inbox: WebhookInbox = {
    handle(handler) {
      return async (context) => {
        const action = actionOf(context.payload);
        const retried = isRetried(context.name, action);
        const { state, attempts } = await receiveDelivery(db, { id: context.id, event: context.name, action, payload: context.payload }, settings.retrySeconds);
        if (state === "processed" || (state === "pending" && !retried)) {
          webhookDeliveries.inc({ event: context.name, outcome: "duplicate" });
          log.info({ deliveryId: context.id, event: context.name, state }, "delivery already handled or being handled; ignoring it");
          return;
        }
        try {
          await handler(context);
        } catch (error) {
          const retryIn = retried && attempts < settings.maxAttempts ? backoffSeconds(attempts) : null;
          await markDeliveryFailed(db, context.id, describe(error), retryIn);
          webhookDeliveries.inc({ event: context.name, outcome: retryIn === null ? "failed" : "retry" });
          if (retryIn === null) {
            log.error({ deliveryId: context.id, event: context.name, attempts, err: { message: describe(error) } }, "webhook handling failed; given up");
            throw error;
          }
          // Kept and retried by Slipway, so GitHub is told it arrived: its own redelivery would only repeat ours.
          log.warn({ deliveryId: context.id, event: context.name, attempts, retryInSeconds: retryIn, err: { message: describe(error) } }, "webhook handling failed; it will be retried");
          return;
        }
        await markDeliveryProcessed(db, context.id);
        webhookDeliveries.inc({ event: context.name, outcome: "processed" });
      };
    },

    async retryDue(probot) {
      let retried = 0;
      for (;;) {
        const { due, gaveUp } = await claimDueDelivery(db, { leaseSeconds: settings.retrySeconds, maxAttempts: settings.maxAttempts, retried: retriedEvents });
        for (const delivery of gaveUp) log.error({ deliveryId: delivery.id, event: delivery.event }, "webhook delivery given up: its handler never finished");
        if (!due) return retried;
        retried++;
        log.info({ deliveryId: due.id, event: due.event, attempt: due.attempts }, "retrying a webhook delivery");
        // The wrapped handler records the outcome; what it rethrows is already logged.
        await probot.receive({ id: due.id, name: due.event, payload: due.payload } as Parameters<Probot["receive"]>[0]).catch(() => {});
      }
    },

    start(probot) {
      let running: Promise<unknown> | null = null;
      const intervalMs = Math.min(5_000, Math.max(250, (settings.retrySeconds * 1000) / 2));
      const timer = setInterval(() => {
        if (running) return;
        running = inbox
          .retryDue(probot)
          .catch((error: Error) => log.warn({ err: { message: error.message } }, "could not retry webhook deliveries"))
          .finally(() => (running = null));
      }, intervalMs);
      timer.unref();
      return async () => {
        clearInterval(timer);
        await running;
      };
    },
  };
  return inbox;
}
