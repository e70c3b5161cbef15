// Owns the worker's side of the gateway's activation API. A gateway that is restarting (or a
// load balancer saying it has none) is waited for: an activation asked while it was away
// is retried with backoff, never dropped. An activation is safe to repeat: switching an alias
// to what it already points at changes nothing.
import pRetry from "p-retry";
import { request } from "undici";

export type ActivationResult = {
  activated: boolean;
  reason?: string;
  previousDeploymentId: string | null;
  durationMs: number;
  /** Live gateway nodes that did not serve the switch within SLIPWAY_ROUTE_CONFIRM_SECONDS, each "<id> at <url>: <why>". */
  unconfirmedGateways?: string[];
  /** The same nodes, field by field. */
  laggingGateways?: { id: string; url: string; servedRevision: number; reason: string }[];
};

/** The gateway answered and said no (a bad request, a deployment that would not start): final. */
class ActivationRefused extends Error {}

const unreachable = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "EHOSTUNREACH", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_SOCKET", "UND_ERR_CLOSED", "UND_ERR_CONNECT_TIMEOUT"]);

export async function requestActivation(
  gatewayUrl: string,
  gatewaySecret: string,
  body: ActivationRequest,
  /** How long to keep trying while the gateway cannot be reached. */
  options: { retryForMs?: number } = {},
): Promise<ActivationResult> {
  return pRetry(() => activateOnce(gatewayUrl, gatewaySecret, body), {
    retries: 1000,
    minTimeout: 250,
    maxTimeout: 5_000,
    factor: 2,
    maxRetryTime: options.retryForMs ?? 120_000,
    shouldRetry: (error) => !(error instanceof ActivationRefused) && unreachable.has((error as { code?: string }).code ?? ""),
  });
}

type ActivationRequest = {
    deploymentId: string;
    alias: string;
    onlyIfNewer?: boolean;
    respectPin?: boolean;
    pin?: boolean;
    action?: string;
    actor?: string;
    via?: "push" | "comment" | "button" | "cli" | "api" | "system" | "console";
};

async function activateOnce(gatewayUrl: string, gatewaySecret: string, body: ActivationRequest): Promise<ActivationResult> {
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
    // A proxy in front of the gateways saying none is up is the same as no answer.
    if (response.statusCode === 502 || response.statusCode === 503 || response.statusCode === 504) {
      throw Object.assign(new Error(`activation failed: the gateway answered ${response.statusCode}`), { code: "ECONNREFUSED" });
    }
    throw new ActivationRefused(`activation failed: ${message}`);
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
