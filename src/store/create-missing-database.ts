// Owns creating the database DATABASE_URL names when it is not there yet: a changed
// DATABASE_URL (another name) works on the first start, as the local one scripts/setup.sh
// makes does. It connects to the server's `postgres` database with the same role, which
// needs CREATEDB (setup.sh gives it); without it, start-up stops with what to run.
import pg from "pg";
import { redactUrlPassword } from "../config/describe-database-failure.js";

/** Returns the database's name when it was created, null when it was already there. */
export async function createMissingDatabase(databaseUrl: string): Promise<string | null> {
  const probe = new pg.Client({ connectionString: databaseUrl });
  try {
    await probe.connect();
    return null;
  } catch (error) {
    if ((error as { code?: string }).code !== "3D000") throw error;
  } finally {
    await probe.end().catch(() => {});
  }
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ""));
  url.pathname = "/postgres";
  const admin = new pg.Client({ connectionString: url.toString() });
  try {
    await admin.connect();
    await admin.query(`create database ${pg.escapeIdentifier(name)}`);
    return name;
  } catch (error) {
    // Another process created it at the same moment.
    if ((error as { code?: string }).code === "42P04") return null;
    const user = decodeURIComponent(url.username || "the role");
    throw new Error(
      `the database "${name}" in DATABASE_URL=${redactUrlPassword(databaseUrl)} does not exist and ${user} cannot create it (${(error as Error).message}); ` +
        `create it (\`createdb -O ${user} ${name}\` as the postgres user) or run scripts/setup.sh with SLIPWAY_DB_NAME=${name}`,
    );
  } finally {
    await admin.end().catch(() => {});
  }
}
