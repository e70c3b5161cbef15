// Owns the retention policy, which keeps disks from filling with builds nobody can reach.
// Per function it keeps the newest `keep` ready deployments (and as many failed or
// cancelled ones) and every deployment an alias
// points at (production, pinned or not, and each open preview). The builds of the others are
// removed: their artifacts and uploaded sources. The deployment rows stay, as history, marked
// `pruned_at`, and from then on a rollback, a promote or an immutable URL refuses them with a
// reason.
//
// Removal is two passes apart, `graceSeconds` at least. A pass marks deployments pruned (a
// switch sees the mark and refuses). A later pass deletes the blobs of deployments pruned
// long enough ago that nothing can still be starting them. A deployment an alias came to
// point at meanwhile is unmarked instead. A blob is deleted only when no unpruned deployment
// shares it (identical builds share one) and it was not written within the grace period.
import type { Logger } from "pino";
import type { ArtifactStore } from "../artifacts/artifact-store.js";
import type { Database } from "../store/create-database.js";

export type PruneResult = { marked: number; restored: number; removedBlobs: number };

export async function pruneDeployments(
  deps: { db: Database; artifacts: ArtifactStore; log: Logger },
  options: { keep: number; graceSeconds: number },
): Promise<PruneResult> {
  const { db } = deps;
  if (options.keep <= 0) return { marked: 0, restored: 0, removedBlobs: 0 };

  const restored = await db.query(
    `update deployments d set pruned_at = null
      where d.pruned_at is not null and exists (select 1 from aliases a where a.deployment_id = d.id)
        and d.artifact_digest is not null`,
  );

  // Blobs of deployments pruned at least graceSeconds ago that no kept deployment uses.
  const candidates = await db.query<{ digest: string }>(
    `select distinct digest from (
       select artifact_digest as digest from deployments where pruned_at < now() - make_interval(secs => $1) and artifact_digest is not null
       union
       select source_digest from deployments where pruned_at < now() - make_interval(secs => $1) and source_digest is not null
     ) pruned
     where not exists (select 1 from deployments k where k.pruned_at is null and (k.artifact_digest = pruned.digest or k.source_digest = pruned.digest))`,
    [options.graceSeconds],
  );
  let removedBlobs = 0;
  for (const { digest } of candidates.rows) {
    const age = await deps.artifacts.age(digest);
    if (age === null || age < options.graceSeconds * 1000) continue;
    await deps.artifacts.remove(digest);
    removedBlobs++;
  }

  const marked = await db.query<{ id: string; version: number; function_id: string }>(
    `with ranked as (
       -- Failed and cancelled ones are ranked apart: they may hold an uploaded source.
       select id, row_number() over (partition by function_id, status = 'ready' order by version desc) as rank
         from deployments where status in ('ready', 'failed', 'cancelled')
     )
     update deployments d set pruned_at = now()
       from ranked r
      where r.id = d.id and r.rank > $1 and d.pruned_at is null
        and not exists (select 1 from aliases a where a.deployment_id = d.id)
      returning d.id, d.version, d.function_id`,
    [options.keep],
  );
  if (marked.rowCount || restored.rowCount || removedBlobs) {
    deps.log.info(
      { marked: marked.rows.map((r) => `${r.function_id}@v${r.version}`), restored: restored.rowCount ?? 0, removedBlobs },
      "retention: old builds pruned",
    );
  }
  return { marked: marked.rowCount ?? 0, restored: restored.rowCount ?? 0, removedBlobs };
}
