// Decides who may deploy, roll back, promote or approve: anyone whose base permission on the
// repository is write or admin, as GitHub's permission API reports it (never the comment's
// author_association, which says nothing about permission). GitHub reports that base as
// `permission`: maintain and every custom role built on write or maintain report write,
// triage reports read. `role_name` (write, maintain, triage, or a custom role's name) is only
// for saying who someone is. Every command, button and approval asks here.
import type { GitHubClient } from "../create-installation-client.js";

const allowed = new Set(["admin", "write"]);

export const requiredPermission = "write access (write, maintain or admin, or a custom role built on them)";

export type CollaboratorAccess = { canDeploy: boolean; role: string };

/** From the permission API's answer; a user GitHub does not know has no access. */
export function accessFromPermission(data: { permission: string; role_name?: string | null } | null): CollaboratorAccess {
  if (!data) return { canDeploy: false, role: "no" };
  return { canDeploy: allowed.has(data.permission), role: data.role_name || data.permission };
}

/**
 * A refusal as a person would say it: "@ana has read access to acme/app; `rollback` needs
 * write access (…)". GitHub's "none" and a user it does not know read as "no access".
 */
export function describeMissingAccess(login: string, access: CollaboratorAccess, repository: string, action: string): string {
  const has = access.role === "none" || access.role === "no" || access.role === "" ? "no" : access.role;
  return `@${login} has ${has} access to ${repository}; ${action} needs ${requiredPermission}`;
}

export async function collaboratorAccess(octokit: GitHubClient, owner: string, repo: string, username: string): Promise<CollaboratorAccess> {
  try {
    const response = await octokit.rest.repos.getCollaboratorPermissionLevel({ owner, repo, username });
    return accessFromPermission(response.data);
  } catch (error) {
    if ((error as { status?: number }).status === 404) return accessFromPermission(null);
    throw error;
  }
}
