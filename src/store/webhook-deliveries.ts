// Owns the webhook_deliveries table: every verified delivery, kept with its payload from the
// moment it arrives until it has been handled. The app stores a delivery and answers GitHub;
// consumers claim deliveries from here (see webhook-inbox.ts). A redelivery of one already
// stored changes nothing, unless it had been given up, which GitHub's "Redeliver" button asks
// to try again.
import type { Queryable } from "./create-database.js";

export type DueDelivery = { id: string; event: string; payload: unknown; attempts: number };

export type ArrivingDelivery = { id: string; event: string; action: string | null; orderKey: string | null; payload: string };

/**
 * Stores a delivery, due at once: `new`. A delivery whose id was stored before (GitHub's
 * redelivery) changes nothing, `duplicate`, unless it had been given up: then it is
 * `requeued`.
 */
export async function recordDelivery(db: Queryable, delivery: ArrivingDelivery): Promise<"new" | "requeued" | "duplicate"> {
  const result = await db.query<{ inserted: boolean }>(
    `insert into webhook_deliveries (id, event, action, order_key, payload, attempts, retry_at)
       values ($1, $2, $3, $4, $5::jsonb, 0, now())
       on conflict (id) do update
         set status = 'received', attempts = 0, retry_at = now(), last_error = null, payload = coalesce(webhook_deliveries.payload, excluded.payload)
         where webhook_deliveries.status = 'failed'
     returning (xmax = 0) as inserted`,
    [delivery.id, delivery.event, delivery.action, delivery.orderKey, delivery.payload],
  );
  const row = result.rows[0];
  return row === undefined ? "duplicate" : row.inserted ? "new" : "requeued";
}

export async function markDeliveryProcessed(db: Queryable, deliveryId: string): Promise<void> {
  await db.query("update webhook_deliveries set status = 'processed', processed_at = now(), last_error = null, retry_at = null where id = $1", [deliveryId]);
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

/** A consumer still handling a delivery keeps it: no other consumer takes it over meanwhile. */
export async function extendLease(db: Queryable, deliveryId: string, leaseSeconds: number): Promise<void> {
  await db.query("update webhook_deliveries set retry_at = now() + make_interval(secs => $2) where id = $1 and status = 'received'", [deliveryId, leaseSeconds]);
}

/**
 * Takes the next due delivery, counting the try and leasing it for `leaseSeconds` so that no
 * other consumer takes it meanwhile. A delivery waits while an earlier one with its order key
 * is new or being handled; one that failed and waits for its retry holds nothing up. A
 * delivery of an event not in `retried` whose earlier try never finished (its consumer died),
 * and any delivery tried `maxAttempts` times, is given up as failed instead, and returned in
 * `gaveUp`.
 */
export async function claimNextDelivery(
  db: Queryable,
  options: { leaseSeconds: number; maxAttempts: number; retried: string[] },
): Promise<{ due: DueDelivery | null; gaveUp: DueDelivery[] }> {
  const gaveUp = await db.query<DueDelivery>(
    `update webhook_deliveries set status = 'failed', retry_at = null,
            last_error = coalesce(last_error, 'the app stopped while handling it')
      where status = 'received' and retry_at <= now() and attempts > 0
        and (attempts >= $1 or payload is null or not (event = any($2) or event || '.' || coalesce(action, '') = any($2)))
      returning id, event, payload, attempts`,
    [options.maxAttempts, options.retried],
  );
  const claimed = await db.query<DueDelivery>(
    `update webhook_deliveries set attempts = attempts + 1, retry_at = now() + make_interval(secs => $1)
      where id = (select d.id from webhook_deliveries d
                   where d.status = 'received' and d.retry_at <= now()
                     and (d.order_key is null or not exists (
                           select 1 from webhook_deliveries e
                            where e.order_key = d.order_key and e.status = 'received' and e.seq < d.seq and e.last_error is null))
                   order by d.seq limit 1 for update skip locked)
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
