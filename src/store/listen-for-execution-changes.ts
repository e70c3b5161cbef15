// Owns hearing of changed executions: one LISTEN connection per process (a client held from
// the pool, taken when the first listener subscribes), fanned out to subscribers by function
// id. Postgres sends a notice per function and statement (migration 019). A lost connection
// is taken again after a pause, and every subscriber is then told its function changed, since
// notices sent in between are gone.
import type pg from "pg";
import type { Database } from "./create-database.js";

export const executionChangesChannel = "slipway_execution_changes";

export type ExecutionChanges = {
  /**
   * Calls `onChange` whenever the function's executions change; resolves, with the
   * unsubscribe, once the process listens, so a read made after it misses no change.
   */
  subscribe(functionId: string, onChange: () => void): Promise<() => void>;
  /** Releases the connection; subscribers hear nothing more. */
  close(): Promise<void>;
};

export function listenForExecutionChanges(db: Database, options: { retryMs?: number; onError?: (error: Error) => void } = {}): ExecutionChanges {
  const subscribers = new Map<string, Set<() => void>>();
  let client: pg.PoolClient | null = null;
  let connecting: Promise<void> | null = null;
  let retryTimer: NodeJS.Timeout | null = null;
  let closed = false;

  const notifyAll = () => {
    for (const set of subscribers.values()) for (const onChange of set) onChange();
  };

  function connect(): void {
    if (closed || client || connecting) return;
    connecting = (async () => {
      const taken = await db.connect();
      taken.on("notification", (notice) => {
        if (notice.channel !== executionChangesChannel || !notice.payload) return;
        for (const onChange of subscribers.get(notice.payload) ?? []) onChange();
      });
      taken.on("error", (error) => lost(taken, error));
      await taken.query(`listen ${executionChangesChannel}`);
      if (closed) return taken.release();
      client = taken;
    })()
      .catch((error: Error) => {
        options.onError?.(error);
        retryLater();
      })
      .finally(() => {
        connecting = null;
      });
  }

  function lost(taken: pg.PoolClient, error: Error): void {
    if (client !== taken) return;
    client = null;
    taken.release(error);
    options.onError?.(error);
    retryLater();
  }

  function retryLater(): void {
    if (closed || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      connect();
      // What changed while no one listened.
      notifyAll();
    }, options.retryMs ?? 2000);
  }

  return {
    async subscribe(functionId, onChange) {
      let set = subscribers.get(functionId);
      if (!set) subscribers.set(functionId, (set = new Set()));
      set.add(onChange);
      connect();
      await connecting;
      return () => {
        set.delete(onChange);
        if (set.size === 0 && subscribers.get(functionId) === set) subscribers.delete(functionId);
      };
    },
    async close() {
      closed = true;
      subscribers.clear();
      if (retryTimer) clearTimeout(retryTimer);
      await connecting;
      const held = client;
      client = null;
      if (held) {
        await held.query(`unlisten ${executionChangesChannel}`).catch(() => undefined);
        held.release();
      }
    },
  };
}
