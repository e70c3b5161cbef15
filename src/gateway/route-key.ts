// Owns how a function URL names a route. A route key is one path segment: the function's
// id, its repository and its owner, then any alias but production, joined by "~":
//   /fn/<function>~<repo>~<owner>/            production
//   /fn/<function>~<repo>~<owner>~<alias>/    any other alias (pr-<n>)
//   /d/<deployment id>/                       one deployment, immutably
// "~" is in none of the parts: a slipway.yml id is a-z, 0-9 and "-", a GitHub owner or
// repository name is letters, digits, ".", "_" and "-" (lower-cased here: GitHub's names are
// case-insensitive), and an alias is production or pr-<n>. So each key names exactly one
// function and alias, whoever owns the names.
//
// Until 2026-12 keys were <function>--<repo>--<owner>[--<alias>], with punctuation made "-";
// "--" could be inside any part, so two functions could share a key. Such a key is still
// redirected, when exactly one route it can mean is served (see legacyRouteKey).

const part = /^[a-z0-9._-]+$/;

/** The key of a function's production route, from its owner, repository and id (slipway.yml). */
export function functionSlug(owner: string, repo: string, name: string): string {
  const parts = [name, repo.toLowerCase(), owner.toLowerCase()];
  for (const value of parts) if (!part.test(value)) throw new Error(`"${value}" cannot be part of a function URL`);
  return parts.join("~");
}

export function routeKey(slug: string, alias: string): string {
  if (alias !== "production" && !/^[a-z0-9-]+$/.test(alias)) throw new Error(`"${alias}" cannot be an alias in a function URL`);
  return alias === "production" ? slug : `${slug}~${alias}`;
}

export function functionUrl(publicUrl: string, slug: string, alias = "production"): string {
  return `${publicUrl}/fn/${routeKey(slug, alias)}/`;
}

/** Splits /fn/<key>/<rest>?<query> into the route key and the path the function sees. */
export function parseFunctionPath(url: string): { key: string; path: string } | null {
  const match = /^\/fn\/([a-z0-9][a-z0-9._~-]*)(\/[^?]*)?(\?.*)?$/.exec(url);
  if (!match) return null;
  return { key: match[1]!, path: `${match[2] ?? "/"}${match[3] ?? ""}` };
}

/**
 * The key a route had before "~" (<function>--<repo>--<owner>[--<alias>]); null for a key
 * that is not of today's form. Several routes may have the same one: a redirect from it is
 * made only when exactly one served route has it.
 */
export function legacyRouteKey(key: string): string | null {
  const parts = key.split("~");
  if (parts.length < 3 || parts.length > 4) return null;
  const clean = (s: string) => s.replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "");
  return parts.map(clean).join("--");
}

/** The immutable URL of one deployment, served by its own container whatever the aliases say. */
export function deploymentUrl(publicUrl: string, deploymentId: string): string {
  return `${publicUrl}/d/${deploymentId}/`;
}

/** The key placement hashes for a deployment's immutable URL (no function URL's key has a "/"). */
export function deploymentKey(deploymentId: string): string {
  return `d/${deploymentId}`;
}

/** Splits /d/<deployment id>/<rest>?<query>. */
export function parseDeploymentPath(url: string): { deploymentId: string; path: string } | null {
  const match = /^\/d\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(\/[^?]*)?(\?.*)?$/.exec(url);
  if (!match) return null;
  return { deploymentId: match[1]!, path: `${match[2] ?? "/"}${match[3] ?? ""}` };
}
