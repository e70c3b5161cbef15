// Owns activating a ready build for every alias it was meant for: production (only from
// the function's branch, never over a newer version, never through a pin, whatever order
// its webhooks came in) and a pull request's preview pr-<n> (only while the pull request
// is open). A build recorded before aliases existed, or by a redeploy, is meant for
// production.
import type { Logger } from "pino";
import type { Config } from "../config/load-config.js";
import { requestActivation } from "../gateway/request-activation.js";
import { unconfirmedNote } from "../gateway/route-sync.js";
import { functionUrl } from "../gateway/route-key.js";
import type { Database } from "../store/create-database.js";
import { listDeploymentTargets, markTargetActivated } from "../store/deployment-targets.js";
import type { BuildContext } from "../store/deployments.js";
import { getPullRequest } from "../store/pull-requests.js";

export type TargetActivation = { alias: string; activated: boolean; note?: string; url: string };

export async function activateTargets(
  deps: { config: Config; db: Database; log: Logger },
  deployment: BuildContext,
): Promise<TargetActivation[]> {
  const { config } = deps;
  const targets = await listDeploymentTargets(deps.db, deployment.deploymentId);
  const wanted =
    targets.length > 0
      ? targets.filter((t) => !t.dropped && t.activatedAt === null).map((t) => ({ alias: t.alias, number: t.pullRequestNumber }))
      : [{ alias: "production", number: null }];
  const results: TargetActivation[] = [];
  for (const target of wanted) {
    const url = functionUrl(config.publicUrl, deployment.slug, target.alias);
    // A production target is added only by a push to the function's branch (or a redeploy or
    // an upload), whichever webhook made the build: a pull request's build of the same commit,
    // a fast-forward merge, a push that came before or after. Only a build with no targets
    // (recorded before targets existed) is judged by the ref it was built from.
    if (target.alias === "production" && targets.length === 0 && deployment.ref !== `refs/heads/${deployment.branch}`) {
      results.push({ alias: target.alias, activated: false, note: `Not activated for production: built from ${deployment.ref}, not the ${deployment.branch} branch.`, url });
      continue;
    }
    if (target.number !== null) {
      const pr = await getPullRequest(deps.db, deployment.repositoryId, target.number);
      if (!pr || pr.state !== "open") {
        results.push({ alias: target.alias, activated: false, note: `Not activated: pull request #${target.number} is closed.`, url });
        continue;
      }
    }
    const production = target.alias === "production";
    const result = await requestActivation(config.SLIPWAY_GATEWAY_URL, config.SLIPWAY_GATEWAY_SECRET, {
      deploymentId: deployment.deploymentId,
      alias: target.alias,
      onlyIfNewer: true,
      respectPin: production,
      action: "activate",
      // An upload (`slipway deploy --prod`) is recorded as done by its token, the way it came.
      actor: deployment.createdBy ?? "slipway",
      via: deployment.createdVia ?? "push",
    });
    if (result.activated) await markTargetActivated(deps.db, deployment.deploymentId, target.alias);
    const unconfirmed = unconfirmedNote(result.unconfirmedGateways);
    const note = !result.activated ? `Not activated for ${target.alias}: ${result.reason}.` : unconfirmed ? `Live for ${target.alias}, but ${unconfirmed}.` : null;
    results.push({ alias: target.alias, activated: result.activated, ...(note ? { note } : {}), url });
  }
  return results;
}
