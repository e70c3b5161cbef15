// Plain functions for the CLI: variables through the REST API (names only come back).
// scope: "owner/repo" for project-level, or a function id for function-level.
import { request } from "undici";

function pathOf(scope: string): string {
  if (/^[^/]+\/[^/]+$/.test(scope)) {
    const [owner, repo] = scope.split("/");
    return `/v1/repositories/${encodeURIComponent(owner!)}/${encodeURIComponent(repo!)}/variables`;
  }
  return `/v1/functions/${encodeURIComponent(scope)}/variables`;
}

async function call(apiUrl: string, token: string, method: "GET" | "PUT" | "DELETE", path: string, body?: unknown): Promise<unknown> {
  const response = await request(`${apiUrl.replace(/\/+$/, "")}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.body.text();
  const parsed = text ? (JSON.parse(text) as { error?: string }) : {};
  if (response.statusCode >= 400) throw new Error(parsed.error ?? `HTTP ${response.statusCode}`);
  return parsed;
}

export async function listVariables(apiUrl: string, token: string, scope: string): Promise<{ name: string; updatedAt: string }[]> {
  return ((await call(apiUrl, token, "GET", pathOf(scope))) as { variables: { name: string; updatedAt: string }[] }).variables;
}

export async function putVariable(apiUrl: string, token: string, scope: string, name: string, value: string): Promise<{ name: string; created: boolean }> {
  return (await call(apiUrl, token, "PUT", `${pathOf(scope)}/${encodeURIComponent(name)}`, { value })) as { name: string; created: boolean };
}

export async function removeVariable(apiUrl: string, token: string, scope: string, name: string): Promise<void> {
  await call(apiUrl, token, "DELETE", `${pathOf(scope)}/${encodeURIComponent(name)}`);
}
