import type { BaseUrls, RepoRecord } from "./emulator-types.js";

/** Recovers the emulator's base URLs from a repository record. */
export function baseUrlsOf(repo: Pick<RepoRecord, "url" | "html_url" | "full_name">): BaseUrls {
  const apiSuffix = `/repos/${repo.full_name}`;
  const webSuffix = `/${repo.full_name}`;
  return {
    apiUrl: repo.url.endsWith(apiSuffix) ? repo.url.slice(0, -apiSuffix.length) : new URL(repo.url).origin,
    webUrl: repo.html_url.endsWith(webSuffix) ? repo.html_url.slice(0, -webSuffix.length) : new URL(repo.html_url).origin,
  };
}
