// Owns the installations and repositories tables.
import type { Queryable } from "./create-database.js";

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
  await db.query(
    `insert into repositories (id, installation_id, owner, name, clone_url, default_branch)
       values ($1, $2, $3, $4, $5, $6)
       on conflict (id) do update set installation_id = excluded.installation_id, owner = excluded.owner,
         name = excluded.name, clone_url = excluded.clone_url, default_branch = excluded.default_branch`,
    [repo.id, repo.installationId, repo.owner, repo.name, repo.cloneUrl, repo.defaultBranch],
  );
}
