// Owns where GitHub's web pages are for a REST API URL: github.com for api.github.com, the
// host for GitHub Enterprise Server's /api/v3, and the same origin otherwise (an emulator).
export function githubWebUrl(apiUrl: string): string {
  const url = new URL(apiUrl);
  if (url.hostname === "api.github.com") return "https://github.com";
  return `${url.origin}${url.pathname.replace(/\/api\/v3\/?$/, "").replace(/\/+$/, "")}`;
}
