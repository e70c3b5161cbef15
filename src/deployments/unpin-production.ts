// Owns `unpin`: production follows pushes again. What serves does not change until the
// next push (or a promote).
import type { Logger } from "pino";
import { deploymentLogger } from "../logging/deployment-logger.js";
import type { Queryable } from "../store/create-database.js";
import { recordAudit, type AuditVia } from "../store/audit-log.js";
import { setAliasPinned } from "../store/aliases.js";
import { DeploymentActionError } from "./deployment-action-error.js";
import { loadFunctionState } from "./load-function-state.js";

export async function unpinProduction(db: Queryable, request: { functionId: string; actor: string; via: AuditVia }, log: Logger): Promise<{ functionName: string; version: number }> {
  const state = await loadFunctionState(db, request.functionId);
  if (!state.production) throw new DeploymentActionError(`${state.name} has no production deployment yet`);
  if (!state.production.pinned) throw new DeploymentActionError(`${state.name}'s production is not pinned`);
  await setAliasPinned(db, state.id, "production", false);
  await recordAudit(db, {
    functionId: state.id,
    action: "unpin",
    actor: request.actor,
    via: request.via,
    fromDeploymentId: state.production.id,
    toDeploymentId: state.production.id,
    detail: { alias: "production" },
  });
  deploymentLogger(log, { deploymentId: state.production.id, functionName: state.name, version: state.production.version, owner: state.owner, repo: state.repo }).info(
    { action: "unpin", actor: request.actor, via: request.via },
    "production unpinned: pushes go live again",
  );
  return { functionName: state.name, version: state.production.version };
}
