// Owns the webhook_deliveries table, which makes a redelivered webhook a no-op. A delivery
// counts as handled only once it is fully processed, so a handler that crashed half-way
// is run again by GitHub's redelivery rather than silently dropped.
import type { Queryable } from "./create-database.js";

export async function isDeliveryProcessed(db: Queryable, deliveryId: string, event: string, action: string | null): Promise<boolean> {
  const result = await db.query<{ status: string }>(
    `insert into webhook_deliveries (id, event, action) values ($1, $2, $3)
       on conflict (id) do update set event = excluded.event
     returning status`,
    [deliveryId, event, action],
  );
  return result.rows[0]?.status === "processed";
}

export async function markDeliveryProcessed(db: Queryable, deliveryId: string): Promise<void> {
  await db.query("update webhook_deliveries set status = 'processed', processed_at = now() where id = $1", [deliveryId]);
}
