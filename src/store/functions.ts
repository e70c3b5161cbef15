// Owns the functions table: one row per function id per repository, updated to the
// latest slipway.yml each time a push names it.
import { retryOnInsertRace, type Queryable } from "./create-database.js";

export type FunctionRecord = {
  id: string;
  repositoryId: number;
  name: string;
  slug: string;
  runtime: string;
  root: string;
  entrypoint: string;
  commands: string;
  branch: string;
  cache: boolean;
  watch?: string[];
  supersede?: boolean;
};

/**
 * The insert failed because another repository's function already has the slug: one of the
 * same owner and name, deleted or renamed on GitHub and then created again (a new id).
 */
export function isSlugTaken(error: unknown): boolean {
  const pgError = error as { code?: string; constraint?: string };
  return pgError.code === "23505" && pgError.constraint === "functions_slug_key";
}

export async function upsertFunction(db: Queryable, fn: Omit<FunctionRecord, "id">): Promise<FunctionRecord> {
  const result = await retryOnInsertRace(() => db.query<{ id: string }>(
    `insert into functions (repository_id, name, slug, runtime, root, entrypoint, commands, branch, cache, watch, supersede)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       on conflict (repository_id, name) do update set runtime = excluded.runtime, root = excluded.root,
         entrypoint = excluded.entrypoint, commands = excluded.commands, branch = excluded.branch,
         cache = excluded.cache, watch = excluded.watch, supersede = excluded.supersede, updated_at = now()
       returning id`,
    [fn.repositoryId, fn.name, fn.slug, fn.runtime, fn.root, fn.entrypoint, fn.commands, fn.branch, fn.cache, fn.watch ?? [], fn.supersede ?? true],
  ));
  return { ...fn, id: result.rows[0]!.id };
}
