// Owns what a console user may see and do in a repository, asked of GitHub as the comment
// commands ask it (the collaborator permission API, with the app's installation token):
// read, triage, write, maintain or admin lets them see its functions and deployments; write
// or more (can-run-command.ts) lets them roll back, promote, unpin and redeploy. Answers are
// kept for a minute, so a permission GitHub withdraws stops working within that minute.
// API tokens are not asked about: a server token sees and does everything.
import type { Principal } from "../api/api-tokens.js";
import { accessFromPermission } from "../github/chatops/can-run-command.js";
import type { InstallationClients } from "../github/create-installation-client.js";
import type { Queryable } from "../store/create-database.js";

export type RepositoryAccess = { canRead: boolean; canDeploy: boolean };

const cacheMs = 60_000;
const readable = new Set(["admin", "write", "read"]);

export type RepositoryAccessChecker = ReturnType<typeof createRepositoryAccess>;

export function createRepositoryAccess(deps: { db: Queryable; installations: InstallationClients }) {
  const cache = new Map<string, { at: number; access: Promise<RepositoryAccess> }>();

  async function askGithub(owner: string, repo: string, login: string): Promise<RepositoryAccess> {
    const row = (await deps.db.query<{ installationId: string }>('select installation_id as "installationId" from repositories where owner = $1 and name = $2', [owner, repo])).rows[0];
    if (!row) return { canRead: false, canDeploy: false };
    try {
      const { data } = await deps.installations.forInstallation(Number(row.installationId)).rest.repos.getCollaboratorPermissionLevel({ owner, repo, username: login });
      return { canRead: readable.has(data.permission), canDeploy: accessFromPermission(data).canDeploy };
    } catch (error) {
      if ((error as { status?: number }).status === 404) return { canRead: false, canDeploy: false };
      throw error;
    }
  }

  return {
    async accessTo(principal: Principal, repository: { owner: string; repo: string }): Promise<RepositoryAccess> {
      if (principal.kind !== "user") return { canRead: true, canDeploy: principal.kind === "server" };
      const key = `${principal.name.toLowerCase()}\n${repository.owner.toLowerCase()}/${repository.repo.toLowerCase()}`;
      const cached = cache.get(key);
      if (cached && Date.now() - cached.at < cacheMs) return cached.access;
      if (cache.size > 10_000) cache.clear();
      const access = askGithub(repository.owner, repository.repo, principal.name);
      cache.set(key, { at: Date.now(), access });
      access.catch(() => cache.delete(key));
      return access;
    },
  };
}
