// Owns where GitHub is: its web address (GITHUB_URL, where the app is registered and
// installed) and its REST API (GITHUB_API_URL). For GitHub Enterprise Server the web address
// is enough: its API lives under /api/v3.
export type GithubUrls = { webUrl: string; apiUrl: string };

export function githubUrls(env: NodeJS.ProcessEnv): GithubUrls {
  const webUrl = (env.GITHUB_URL?.trim() || "https://github.com").replace(/\/+$/, "");
  const explicitApi = env.GITHUB_API_URL?.trim();
  if (explicitApi) return { webUrl, apiUrl: explicitApi.replace(/\/+$/, "") };
  const host = new URL(webUrl).host;
  return { webUrl, apiUrl: host === "github.com" ? "https://api.github.com" : `${webUrl}/api/v3` };
}
