// Owns the audit log: who changed what serves traffic, how, when, and from and to which
// deployment. Every activation, rollback, promote, unpin and cancel writes one entry.
import type { Queryable } from "./create-database.js";

export type AuditVia = "push" | "comment" | "button" | "cli" | "api" | "system" | "console";

export type AuditEntry = {
  functionId: string;
  action: string;
  actor: string;
  via: AuditVia;
  fromDeploymentId?: string | null;
  toDeploymentId?: string | null;
  detail?: Record<string, unknown>;
};

export async function recordAudit(db: Queryable, entry: AuditEntry): Promise<void> {
  await db.query(
    `insert into audit_log (function_id, action, actor, via, from_deployment_id, to_deployment_id, detail)
     values ($1, $2, $3, $4, $5, $6, $7)`,
    [entry.functionId, entry.action, entry.actor, entry.via, entry.fromDeploymentId ?? null, entry.toDeploymentId ?? null, JSON.stringify(entry.detail ?? {})],
  );
}

export async function listAudit(db: Queryable, functionId: string, limit = 100) {
  const result = await db.query(
    `select id, action, actor, via, from_deployment_id as "fromDeploymentId", to_deployment_id as "toDeploymentId", detail, created_at as "createdAt"
       from audit_log where function_id = $1 order by id desc limit $2`,
    [functionId, limit],
  );
  return result.rows;
}
