// Owns what the start-up banner's "next step" is decided from: how far this installation has
// come (an API token, a repository with the app installed, a deployment).
import type { Queryable } from "./create-database.js";

export type FirstHourProgress = { tokens: number; repositories: number; deployments: number };

export async function getFirstHourProgress(db: Queryable): Promise<FirstHourProgress> {
  const result = await db.query<FirstHourProgress>(
    `select (select count(*)::int from api_tokens) as tokens,
            (select count(*)::int from repositories) as repositories,
            (select count(*)::int from deployments) as deployments`,
  );
  return result.rows[0]!;
}
