// Owns the one line an operator reads when PostgreSQL cannot be used: it names
// DATABASE_URL with the password hidden, and says what to check.
export function redactUrlPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(not a URL)";
  }
}

function codeOf(error: unknown): string | undefined {
  const seen = error as { code?: string; errors?: { code?: string }[] };
  return seen?.code ?? seen?.errors?.[0]?.code;
}

/** A message for a failure to reach or use the database, or null if the error is something else. */
export function describeDatabaseFailure(error: unknown, databaseUrl: string): string | null {
  const where = `PostgreSQL at DATABASE_URL=${redactUrlPassword(databaseUrl)}`;
  switch (codeOf(error)) {
    case "ECONNREFUSED":
      return `cannot reach ${where}: the connection was refused; is PostgreSQL running there? (scripts/setup.sh starts a local one)`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot reach ${where}: no such host; check the host name in DATABASE_URL`;
    case "ETIMEDOUT":
      return `cannot reach ${where}: the connection timed out; check the host and port in DATABASE_URL and any firewall`;
    case "28P01":
    case "28000":
      return `${where} refused the user name or password in DATABASE_URL`;
    case "3D000":
      return `${where}: the database named in DATABASE_URL does not exist; create it (scripts/setup.sh creates the local one)`;
    default:
      return null;
  }
}
