// Owns how a function URL names a route: /fn/<slug>/ is production, /fn/<slug>--<alias>/
// any other alias (pr-<n>, branch-<name>).
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
