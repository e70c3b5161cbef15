// Owns the app's and worker's side of removing an alias on the gateway (a closed pull
// request's preview): the route goes away and the containers only it needed stop.
import { request } from "undici";

export async function requestAliasRemoval(gatewayUrl: string, gatewaySecret: string, body: { functionId: string; alias: string }): Promise<{ removed: boolean; stopped: number }> {
  const response = await request(`${gatewayUrl}/v1/aliases/remove`, {
    method: "POST",
    headers: { authorization: `Bearer ${gatewaySecret}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
  });
  const text = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`alias removal failed with HTTP ${response.statusCode}`);
  return JSON.parse(text) as { removed: boolean; stopped: number };
}
