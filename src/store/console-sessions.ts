// Owns the console's sign-ins and sessions in PostgreSQL (see 018_console_sessions.sql).
// Ids arrive here already hashed: the raw values live only in the browser's cookies.
import type { Queryable } from "./create-database.js";

export type ConsoleSession = { idHash: string; githubUserId: number; login: string; csrfToken: string };

export async function saveSignIn(db: Queryable, signIn: { stateHash: string; codeVerifier: string; returnTo: string; ttlSeconds: number }): Promise<void> {
  await db.query("delete from console_sign_ins where expires_at < now()");
  await db.query(
    "insert into console_sign_ins (state_hash, code_verifier, return_to, expires_at) values ($1, $2, $3, now() + make_interval(secs => $4::int))",
    [signIn.stateHash, signIn.codeVerifier, signIn.returnTo, signIn.ttlSeconds],
  );
}

/** The sign-in under way with this state, once: it is deleted as it is read. */
export async function takeSignIn(db: Queryable, stateHash: string): Promise<{ codeVerifier: string; returnTo: string } | null> {
  const result = await db.query<{ codeVerifier: string; returnTo: string }>(
    `delete from console_sign_ins where state_hash = $1 and expires_at > now() returning code_verifier as "codeVerifier", return_to as "returnTo"`,
    [stateHash],
  );
  return result.rows[0] ?? null;
}

export async function createSession(db: Queryable, session: ConsoleSession & { ttlSeconds: number }): Promise<void> {
  await db.query("delete from console_sessions where expires_at < now()");
  await db.query(
    "insert into console_sessions (id_hash, github_user_id, login, csrf_token, expires_at) values ($1, $2, $3, $4, now() + make_interval(secs => $5::int))",
    [session.idHash, session.githubUserId, session.login, session.csrfToken, session.ttlSeconds],
  );
}

export async function findSession(db: Queryable, idHash: string): Promise<ConsoleSession | null> {
  const result = await db.query<ConsoleSession>(
    `select id_hash as "idHash", github_user_id::float8 as "githubUserId", login, csrf_token as "csrfToken"
       from console_sessions where id_hash = $1 and expires_at > now()`,
    [idHash],
  );
  return result.rows[0] ?? null;
}

export async function deleteSession(db: Queryable, idHash: string): Promise<void> {
  await db.query("delete from console_sessions where id_hash = $1", [idHash]);
}
