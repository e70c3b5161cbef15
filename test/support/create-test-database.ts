// A fresh, migrated PostgreSQL database for one test file, dropped afterwards.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { createDatabase, type Database } from "../../src/store/create-database.js";
import { runMigrations } from "../../src/store/run-migrations.js";

export const adminDatabaseUrl = process.env.SLIPWAY_TEST_DATABASE_URL ?? "postgres://slipway:slipway@127.0.0.1:5432/slipway";

export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<{ url: string; db: Database; drop(): Promise<void> }> {
  const name = `slipway_test_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminDatabaseUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = adminDatabaseUrl.replace(/\/[^/]*$/, `/${name}`);
  const db = createDatabase(url);
  if (options.migrate !== false) await runMigrations(db);
  return {
    url,
    db,
    async drop() {
      await db.end();
      const cleanup = new pg.Client({ connectionString: adminDatabaseUrl });
      await cleanup.connect();
      try {
        // An autovacuum worker busy in the database cannot be terminated by a role without
        // pg_signal_autovacuum_worker (PostgreSQL 17); it is done within moments, so wait.
        for (let attempt = 1; ; attempt++) {
          try {
            await cleanup.query(`drop database if exists ${name} with (force)`);
            break;
          } catch (error) {
            if (attempt >= 40 || !["42501", "55006"].includes((error as { code?: string }).code ?? "")) throw error;
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
        }
      } finally {
        await cleanup.end();
      }
    },
  };
}
