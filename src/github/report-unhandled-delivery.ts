// Owns "no silent failures" for webhook deliveries: a delivery Slipway gives up on (its
// handling failed for a reason a retry cannot fix, or failed on every try) ends in a failed
// `slipway` check run on the commit it was about, saying why and what to do. Also owns which
// failures a retry cannot fix.
import type { InstallationClients } from "./create-installation-client.js";
import { createCheckRun } from "./check-runs.js";

/** Thrown by a handler for a delivery that can never succeed as it is (say, an invalid state). */
export class PermanentDeliveryError extends Error {}

// PostgreSQL's classes 22 (data exception) and 23 (integrity constraint violation) say the
// data itself is wrong: the same statement fails the same way every time.
const permanentSqlStates = /^2[23]/;

export function isPermanentFailure(error: unknown): boolean {
  const cause = error instanceof AggregateError && error.errors.length > 0 ? error.errors[0] : error;
  if (cause instanceof PermanentDeliveryError) return true;
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === "string" && permanentSqlStates.test(code) && "severity" in (cause as object);
}

type DeliveryPayload = {
  installation?: { id?: number };
  repository?: { name?: string; owner?: { login?: string } };
  after?: string;
  deleted?: boolean;
  pull_request?: { head?: { sha?: string } };
  check_run?: { head_sha?: string };
  check_suite?: { head_sha?: string };
};

/** The commit a delivery was about, when it was about one. */
export function deliveryCommit(payload: unknown): { installationId: number; owner: string; repo: string; sha: string } | null {
  const p = payload as DeliveryPayload;
  const sha = p.pull_request?.head?.sha ?? p.check_run?.head_sha ?? p.check_suite?.head_sha ?? (p.deleted ? undefined : p.after);
  const installationId = p.installation?.id;
  const owner = p.repository?.owner?.login;
  const repo = p.repository?.name;
  if (!sha || /^0+$/.test(sha) || typeof installationId !== "number" || !owner || !repo) return null;
  return { installationId, owner, repo, sha };
}

export async function reportUnhandledDelivery(
  deps: { github: InstallationClients; appUrl: string },
  delivery: { id: string; event: string; payload: unknown; attempts: number; permanent: boolean },
  reason: string,
): Promise<boolean> {
  const commit = deliveryCommit(delivery.payload);
  if (!commit) return false;
  const why = delivery.permanent
    ? "Trying again cannot fix this, so Slipway stopped at once."
    : `It failed on each of ${delivery.attempts} tries, so Slipway gave up.`;
  await createCheckRun(
    deps.github.forInstallation(commit.installationId),
    { owner: commit.owner, repo: commit.repo, sha: commit.sha, name: "slipway", detailsUrl: `${deps.appUrl}/` },
    { conclusion: "failure" },
    {
      title: `Slipway could not handle this ${delivery.event.replace(/_/g, " ")}`,
      summary: [
        `**Nothing was deployed for this ${delivery.event.replace(/_/g, " ")}:** ${reason}`,
        "",
        why,
        "",
        `Fix the cause, then push again or press **Re-run**. Operators find the delivery \`${delivery.id}\` in the app's log and in \`webhook_deliveries\`.`,
      ].join("\n"),
    },
  );
  return true;
}
