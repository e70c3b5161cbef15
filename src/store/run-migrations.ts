// Owns schema versions: applies src/store/migrations/NNN_name.sql in order, each in its own
// transaction, under an advisory lock so several processes starting at once apply each
// migration exactly once.
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Database } from "./create-database.js";

const migrationsDir = fileURLToPath(new URL("./migrations/", import.meta.url));
const lockKey = 0x51_1b_3a_7; // any constant shared by all Slipway processes

export async function runMigrations(db: Database): Promise<string[]> {
  const client = await db.connect();
  const applied: string[] = [];
  try {
    await client.query("select pg_advisory_lock($1)", [lockKey]);
    await client.query(
      "create table if not exists schema_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())",
    );
    const done = new Set(
      (await client.query<{ version: number }>("select version from schema_migrations")).rows.map((r) => r.version),
    );
    const files = (await readdir(migrationsDir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
    for (const file of files) {
      const version = Number.parseInt(file, 10);
      if (done.has(version)) continue;
      const sql = await readFile(migrationsDir + file, "utf8");
      await client.query("begin");
      try {
        await client.query(sql);
        await client.query("insert into schema_migrations (version, name) values ($1, $2)", [version, file]);
        await client.query("commit");
      } catch (error) {
        await client.query("rollback");
        throw new Error(`migration ${file} failed: ${(error as Error).message}`);
      }
      applied.push(file);
    }
  } finally {
    await client.query("select pg_advisory_unlock($1)", [lockKey]).catch(() => {});
    client.release();
  }
  return applied;
}
