// Owns the worker's side of the gateway's activation API.
import { request } from "undici";

export type ActivationResult = {
  activated: boolean;
  reason?: string;
  previousDeploymentId: string | null;
  durationMs: number;
};

export async function requestActivation(
  gatewayUrl: string,
  gatewaySecret: string,
  body: {
    deploymentId: string;
    alias: string;
    onlyIfNewer?: boolean;
    respectPin?: boolean;
    pin?: boolean;
    action?: string;
    actor?: string;
    via?: "push" | "comment" | "button" | "cli" | "api" | "system";
  },
): Promise<ActivationResult> {
  const response = await request(`${gatewayUrl}/v1/activations`, {
    method: "POST",
    headers: { authorization: `Bearer ${gatewaySecret}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    headersTimeout: 120_000,
    bodyTimeout: 120_000,
  });
  const text = await response.body.text();
  if (response.statusCode !== 200) {
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {}
    throw new Error(`activation failed: ${message}`);
  }
  return JSON.parse(text) as ActivationResult;
}

/**
 * Asks the gateway to start a deployment's container without routing to it, so that an
 * activation expected next (a rollback awaiting GitHub's permission answer) finds it warm.
 * Best effort: it answers at once, and a container nobody routes to retires after the grace period.
 */
export async function requestPrewarm(gatewayUrl: string, gatewaySecret: string, deploymentId: string): Promise<void> {
  const response = await request(`${gatewayUrl}/v1/prewarm`, {
    method: "POST",
    headers: { authorization: `Bearer ${gatewaySecret}`, "content-type": "application/json" },
    body: JSON.stringify({ deploymentId }),
    headersTimeout: 5_000,
    bodyTimeout: 5_000,
  });
  await response.body.dump();
}
