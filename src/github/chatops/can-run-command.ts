// Decides who may run a command: write, maintain or admin on the repository, as GitHub's
// permission API reports it (never the comment's author_association, which says nothing
// about permission).
const allowed = new Set(["admin", "maintain", "write"]);

export function canRunCommand(permission: string): boolean {
  return allowed.has(permission);
}

export const requiredPermission = "write, maintain or admin";
