import { createHmac } from "node:crypto";

/** GitHub's `X-Hub-Signature-256` value for a body: `sha256=<hex HMAC-SHA256(secret, body)>`. */
export function signWebhook(body: string | Uint8Array, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}
