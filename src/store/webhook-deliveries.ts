// Owns the webhook_deliveries table: every verified delivery, kept with its payload until it
// has been handled. A redelivered webhook that was handled is a no-op; one that was not is
// handled again, by GitHub's redelivery or by the app's own retries (see webhook-inbox.ts).
import type { Queryable } from "./create-database.js";

export type DeliveryState = "new" | "pending" | "processed" | "failed";

export type DueDelivery = { id: string; event: string; payload: unknown; attempts: number };

/**
 * Records a delivery on arrival and says what became of it before: `new` the first time,
 * `pending` when an earlier try has not finished (or failed and waits for its retry), with
 * the tries counted so far, this one included. Until `leaseSeconds` have passed, no retry
 * takes it: that is the time its handler has.
 */
export async function receiveDelivery(
  db: Queryable,
  delivery: { id: string; event: string; action: string | null; payload: unknown },
  leaseSeconds: number,
): Promise<{ state: DeliveryState; attempts: number }> {
  const result = await db.query<{ status: "received" | "processed" | "failed"; attempts: number; inserted: boolean }>(
    `insert into webhook_deliveries (id, event, action, payload, attempts, retry_at)
       values ($1, $2, $3, $4, 1, now() + make_interval(secs => $5))
       on conflict (id) do update set payload = coalesce(webhook_deliveries.payload, excluded.payload)
     returning status, attempts, (xmax = 0) as inserted`,
    [delivery.id, delivery.event, delivery.action, JSON.stringify(delivery.payload), leaseSeconds],
  );
  const row = result.rows[0]!;
  const state = row.inserted ? "new" : row.status === "received" ? "pending" : row.status;
  return { state, attempts: row.attempts };
}

export async function markDeliveryProcessed(db: Queryable, deliveryId: string): Promise<void> {
  await db.query("update webhook_deliveries set status = 'processed', processed_at = now(), last_error = null where id = $1", [deliveryId]);
}

/**
 * A try failed: the delivery waits `retryInSeconds` for its next one, or, with `retryInSeconds`
 * null, is given up as failed. The error is kept for operators (never a token: see callers).
 */
export async function markDeliveryFailed(db: Queryable, deliveryId: string, error: string, retryInSeconds: number | null): Promise<void> {
  await db.query(
    `update webhook_deliveries
        set status = case when $3::float8 is null then 'failed' else 'received' end,
            last_error = $2,
            retry_at = case when $3::float8 is null then null else now() + make_interval(secs => $3::float8) end
      where id = $1 and status = 'received'`,
    [deliveryId, error, retryInSeconds],
  );
}

/**
 * Takes one delivery of the `retried` events whose retry is due, counting the try and leasing
 * it for `leaseSeconds` so no other app replica takes it meanwhile. Deliveries already tried
 * `maxAttempts` times, and those of other events whose handler never finished, are given up
 * as failed instead and returned in `gaveUp`.
 */
export async function claimDueDelivery(
  db: Queryable,
  options: { leaseSeconds: number; maxAttempts: number; retried: string[] },
): Promise<{ due: DueDelivery | null; gaveUp: { id: string; event: string }[] }> {
  const gaveUp = await db.query<{ id: string; event: string }>(
    `update webhook_deliveries set status = 'failed', retry_at = null,
            last_error = coalesce(last_error, 'the app stopped while handling it')
      where status = 'received' and retry_at <= now()
        and (attempts >= $1 or payload is null or not (event = any($2) or event || '.' || coalesce(action, '') = any($2)))
      returning id, event`,
    [options.maxAttempts, options.retried],
  );
  const claimed = await db.query<DueDelivery>(
    `update webhook_deliveries set attempts = attempts + 1, retry_at = now() + make_interval(secs => $1)
      where id = (select id from webhook_deliveries
                   where status = 'received' and retry_at <= now()
                   order by retry_at limit 1 for update skip locked)
      returning id, event, payload, attempts`,
    [options.leaseSeconds],
  );
  return { due: claimed.rows[0] ?? null, gaveUp: gaveUp.rows };
}

/**
 * Forgets deliveries handled or given up more than `days` ago, payloads and all. GitHub keeps
 * a delivery for redelivery only a few days, so after that its id has nothing left to dedupe.
 */
export async function forgetOldDeliveries(db: Queryable, days: number): Promise<number> {
  const result = await db.query("delete from webhook_deliveries where status <> 'received' and received_at < now() - make_interval(days => $1)", [days]);
  return result.rowCount ?? 0;
}
