// Owns the PostgreSQL pool. Every query in Slipway goes through a pool made here.
import pg from "pg";

export type Database = pg.Pool;
export type Queryable = pg.Pool | pg.PoolClient;

export function createDatabase(connectionString: string, max = 10): Database {
  const pool = new pg.Pool({ connectionString, max });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on("error", () => {});
  return pool;
}

export async function inTransaction<T>(db: Database, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query("begin");
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

// An `insert … on conflict (a) do update` guards only index a. When two requests insert the
// same new row at once (a push and a pull request for a new repository), the other unique
// indexes (a repository's owner and name, a function's slug) can still raise a duplicate-key
// error in the loser, or, when both wait on each other's index entries, a deadlock that
// PostgreSQL breaks by failing one. Run again: by then the row exists and the conflict path
// is taken.
const insertRaceCodes = new Set(["23505", "40P01"]);

export async function retryOnInsertRace<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= 3 || !insertRaceCodes.has((error as { code?: string }).code ?? "")) throw error;
    }
  }
}
