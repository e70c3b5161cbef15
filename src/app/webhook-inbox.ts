// Owns handling the stored webhook deliveries (webhook_deliveries), apart from the HTTP
// request that brought them: GitHub gets its answer as soon as a delivery is stored, and
// consumers in every app replica claim deliveries and run Probot's handlers on them through
// `probot.receive`. Deliveries of one repository are handled one at a time, in the order they
// came (see claimNextDelivery); others side by side, up to `concurrency` per replica.
//
// At least once: a try that fails is tried again with doubling delays; a consumer that dies
// leaves its delivery to be taken over when its lease runs out, while a live one renews it.
// Only handlers that are safe to run twice are retried: a push, a pull request and a re-run
// find the build their delivery already made instead of making another. A comment command or
// a check-run button is not (a second `/slipway rollback` goes one version further back), so
// those are never run twice for one delivery, and are given up when a try fails.
import type { Probot } from "probot";
import type { Logger } from "pino";
import { webhookDeliveries } from "../metrics/metrics.js";
import { createWakeableSleep } from "../queue/wakeable-sleep.js";
import type { Database } from "../store/create-database.js";
import { isPermanentFailure } from "../github/report-unhandled-delivery.js";
import { claimNextDelivery, extendLease, markDeliveryFailed, markDeliveryProcessed, type DueDelivery } from "../store/webhook-deliveries.js";

export type InboxSettings = {
  /** How long a try holds its delivery without renewing it, and the first retry's delay. */
  retrySeconds: number;
  /** Tries in all, the first included, before a delivery is given up as failed. */
  maxAttempts: number;
  /** Deliveries handled side by side by this replica. */
  concurrency: number;
};

/** Deliveries (`event` or `event.action`) whose handlers may run again for the same delivery. */
export const retriedEvents = ["push", "pull_request", "check_run.rerequested", "check_suite.rerequested"];

// The first line of what went wrong, short; Slipway puts no token in an error message.
// Probot wraps handler errors in an AggregateError; its first error is the handler's.
const describe = (error: unknown) => {
  const cause = error instanceof AggregateError && error.errors.length > 0 ? error.errors[0] : error;
  return (cause instanceof Error ? cause.message : String(cause)).split("\n")[0]!.slice(0, 500);
};

export type WebhookInbox = {
  /** Starts this replica's consumers; returns a function that stops them after their current delivery. */
  start(probot: Probot): () => Promise<void>;
  /** A delivery was just stored: consumers look now instead of at their next poll. */
  wake(): void;
};

const pollMs = 1_000;

/** A delivery given up: told where its sender sees it (see report-unhandled-delivery.ts). */
export type GivenUp = (delivery: DueDelivery & { permanent: boolean }, reason: string) => Promise<unknown>;

export function createWebhookInbox(deps: { db: Database; log: Logger; settings: InboxSettings; onGivenUp?: GivenUp }): WebhookInbox {
  const { db, settings } = deps;
  const log = deps.log.child({ module: "webhook-inbox" });
  const backoffSeconds = (attempts: number) => Math.min(settings.retrySeconds * 2 ** (attempts - 1), 3600);
  const isRetried = (delivery: DueDelivery) => {
    const action = (delivery.payload as { action?: unknown } | null)?.action;
    return retriedEvents.includes(delivery.event) || (typeof action === "string" && retriedEvents.includes(`${delivery.event}.${action}`));
  };
  // Idle consumers wait here until the next poll, or until a stored delivery wakes one.
  const idle = createWakeableSleep(pollMs);
  const giveUp = async (delivery: DueDelivery & { permanent: boolean }, reason: string) => {
    await deps.onGivenUp?.(delivery, reason).catch((error: Error) => log.warn({ deliveryId: delivery.id, err: { message: error.message } }, "could not report a given-up delivery"));
  };

  async function handle(probot: Probot, delivery: DueDelivery): Promise<void> {
    const renew = setInterval(() => {
      void extendLease(db, delivery.id, settings.retrySeconds).catch((error: Error) => log.warn({ deliveryId: delivery.id, err: { message: error.message } }, "could not renew a delivery's lease"));
    }, (settings.retrySeconds * 1000) / 3);
    try {
      await probot.receive({ id: delivery.id, name: delivery.event, payload: delivery.payload } as Parameters<Probot["receive"]>[0]);
    } catch (error) {
      // A failure no retry can fix (a constraint, an invalid state) is given up at once.
      const permanent = isPermanentFailure(error);
      const retryIn = !permanent && isRetried(delivery) && delivery.attempts < settings.maxAttempts ? backoffSeconds(delivery.attempts) : null;
      await markDeliveryFailed(db, delivery.id, describe(error), retryIn);
      webhookDeliveries.inc({ event: delivery.event, outcome: retryIn === null ? "failed" : "retry" });
      const context = { deliveryId: delivery.id, event: delivery.event, attempts: delivery.attempts, permanent, err: { message: describe(error) } };
      if (retryIn !== null) {
        log.warn({ ...context, retryInSeconds: retryIn }, "webhook handling failed; it will be retried");
        return;
      }
      log.error(context, "webhook handling failed; given up");
      await giveUp({ ...delivery, permanent }, describe(error));
      return;
    } finally {
      clearInterval(renew);
    }
    await markDeliveryProcessed(db, delivery.id);
    webhookDeliveries.inc({ event: delivery.event, outcome: "processed" });
  }

  async function consume(probot: Probot, stopped: () => boolean): Promise<void> {
    while (!stopped()) {
      let delivery: DueDelivery | null = null;
      try {
        const next = await claimNextDelivery(db, { leaseSeconds: settings.retrySeconds, maxAttempts: settings.maxAttempts, retried: retriedEvents });
        for (const given of next.gaveUp) {
          log.error({ deliveryId: given.id, event: given.event }, "webhook delivery given up: its handler never finished");
          await giveUp({ ...given, permanent: false }, "its handling was cut short (the app stopped) too many times");
        }
        delivery = next.due;
      } catch (error) {
        log.warn({ err: { message: (error as Error).message } }, "could not claim a webhook delivery");
      }
      if (delivery) {
        if (delivery.attempts > 1) log.info({ deliveryId: delivery.id, event: delivery.event, attempt: delivery.attempts }, "retrying a webhook delivery");
        await handle(probot, delivery).catch((error: Error) => log.warn({ deliveryId: delivery.id, err: { message: error.message } }, "could not record a delivery's outcome"));
        continue;
      }
      await idle.sleep();
    }
  }

  return {
    wake: () => idle.wakeOne(),
    start(probot) {
      let stop = false;
      const consumers = Array.from({ length: settings.concurrency }, () => consume(probot, () => stop));
      return async () => {
        stop = true;
        idle.wakeAll();
        await Promise.all(consumers);
      };
    },
  };
}
