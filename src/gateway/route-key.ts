// Owns how a function URL names a route: /fn/<slug>/ is production, /fn/<slug>--<alias>/
// any other alias (pr-<n>, branch-<name>); /d/<deployment id>/ is one deployment, immutably.
export function routeKey(slug: string, alias: string): string {
  return alias === "production" ? slug : `${slug}--${alias}`;
}

export function functionUrl(publicUrl: string, slug: string, alias = "production"): string {
  return `${publicUrl}/fn/${routeKey(slug, alias)}/`;
}

/** Splits /fn/<key>/<rest>?<query> into the route key and the path the function sees. */
export function parseFunctionPath(url: string): { key: string; path: string } | null {
  const match = /^\/fn\/([a-z0-9-]+)(\/[^?]*)?(\?.*)?$/.exec(url);
  if (!match) return null;
  return { key: match[1]!, path: `${match[2] ?? "/"}${match[3] ?? ""}` };
}

/** The immutable URL of one deployment, served by its own container whatever the aliases say. */
export function deploymentUrl(publicUrl: string, deploymentId: string): string {
  return `${publicUrl}/d/${deploymentId}/`;
}

/** Splits /d/<deployment id>/<rest>?<query>. */
export function parseDeploymentPath(url: string): { deploymentId: string; path: string } | null {
  const match = /^\/d\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(\/[^?]*)?(\?.*)?$/.exec(url);
  if (!match) return null;
  return { deploymentId: match[1]!, path: `${match[2] ?? "/"}${match[3] ?? ""}` };
}
