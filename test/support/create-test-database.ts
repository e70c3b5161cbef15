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
      await cleanup.query(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}
