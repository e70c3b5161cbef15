// Owns the installations and repositories tables.
import { retryOnInsertRace, type Queryable } from "./create-database.js";

export type RepositoryRecord = {
  id: number;
  installationId: number;
  owner: string;
  name: string;
  cloneUrl: string;
  defaultBranch: string;
};

export async function upsertRepository(db: Queryable, repo: RepositoryRecord): Promise<void> {
  await db.query(
    `insert into installations (id, account_login) values ($1, $2)
       on conflict (id) do update set account_login = excluded.account_login`,
    [repo.installationId, repo.owner],
  );
  await retryOnInsertRace(() => db.query(
    `insert into repositories (id, installation_id, owner, name, clone_url, default_branch)
       values ($1, $2, $3, $4, $5, $6)
       on conflict (id) do update set installation_id = excluded.installation_id, owner = excluded.owner,
         name = excluded.name, clone_url = excluded.clone_url, default_branch = excluded.default_branch`,
    [repo.id, repo.installationId, repo.owner, repo.name, repo.cloneUrl, repo.defaultBranch],
  ));
}

export async function getRepositoryByName(db: Queryable, owner: string, name: string): Promise<RepositoryRecord | null> {
  const result = await db.query(
    `select id, installation_id as "installationId", owner, name, clone_url as "cloneUrl", default_branch as "defaultBranch"
       from repositories where lower(owner) = lower($1) and lower(name) = lower($2)`,
    [owner, name],
  );
  const row = result.rows[0];
  return row ? { ...row, id: Number(row.id), installationId: Number(row.installationId) } : null;
}
