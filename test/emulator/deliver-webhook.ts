import { createHmac, randomUUID } from "node:crypto";
import { signWebhook } from "./sign-webhook.js";

export interface DeliverWebhookInput {
  /** Receiver URL, e.g. Probot's `/api/github/webhooks`. */
  url: string;
  /** `X-GitHub-Event`, e.g. `push`. */
  event: string;
  payload: unknown;
  /** Webhook secret; without one GitHub sends no signature headers. */
  secret?: string;
  /** `X-GitHub-Delivery` (default: a random UUID, like GitHub). Reuse one to simulate a redelivery. */
  deliveryId?: string;
  /** Overrides `X-Hub-Signature-256`: a string is sent as-is, `''` or null sends no signature at all. */
  signature?: string | null;
  /** Sent as `X-GitHub-Hook-Installation-Target-ID` (the app id for GitHub App webhooks). */
  appId?: number;
  hookId?: number;
  /** Extra or overriding headers. */
  headers?: Record<string, string>;
  /** GitHub abandons a delivery after 10 s; so does this (default 10 000 ms). */
  timeoutMs?: number;
}

export interface DeliverWebhookResult {
  status: number;
  body: string;
  deliveryId: string;
  headers: Record<string, string>;
  /** What was sent, byte for byte. */
  requestBody: string;
  requestHeaders: Record<string, string>;
}

/**
 * POSTs a webhook the way GitHub's Hookshot does: JSON body, `X-GitHub-Event`,
 * `X-GitHub-Delivery`, `X-Hub-Signature-256` (and legacy SHA-1 `X-Hub-Signature`),
 * `User-Agent: GitHub-Hookshot/…`.
 */
export async function deliverWebhook(input: DeliverWebhookInput): Promise<DeliverWebhookResult> {
  const deliveryId = input.deliveryId ?? randomUUID();
  const body = JSON.stringify(input.payload);
  const headers: Record<string, string> = {
    accept: "*/*",
    "content-type": "application/json",
    "user-agent": "GitHub-Hookshot/8e0a1b2",
    "x-github-event": input.event,
    "x-github-delivery": deliveryId,
    "x-github-hook-id": String(input.hookId ?? 470_000_001),
    "x-github-hook-installation-target-type": "integration",
  };
  if (input.appId !== undefined) headers["x-github-hook-installation-target-id"] = String(input.appId);
  if (input.signature === undefined) {
    if (input.secret !== undefined) {
      headers["x-hub-signature"] = `sha1=${createHmac("sha1", input.secret).update(body).digest("hex")}`;
      headers["x-hub-signature-256"] = signWebhook(body, input.secret);
    }
  } else if (input.signature) {
    headers["x-hub-signature-256"] = input.signature;
  }
  Object.assign(headers, input.headers);

  const timeoutMs = input.timeoutMs ?? 10_000;
  let response: Response;
  try {
    response = await fetch(input.url, { method: "POST", headers, body, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    if ((error as Error).name === "TimeoutError") {
      throw new Error(`webhook ${input.event} ${deliveryId} timed out after ${timeoutMs} ms (GitHub gives up after 10 s)`);
    }
    throw error;
  }
  const responseHeaders: Record<string, string> = {};
  response.headers.forEach((value, key) => {
    responseHeaders[key] = value;
  });
  return { status: response.status, body: await response.text(), deliveryId, headers: responseHeaders, requestBody: body, requestHeaders: headers };
}
