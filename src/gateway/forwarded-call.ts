// Owns the proof that a function-URL call was forwarded by a gateway node (the
// x-slipway-forwarded header of call-contract.ts): the deployment the forwarding node meant,
// when, and an HMAC of those and the request line with SLIPWAY_GATEWAY_SECRET. The node that
// receives such a call serves it itself, so a call is forwarded at most once, even while two
// nodes disagree on who runs a route. Only a holder of the gateway secret can make one.
import { createHmac, timingSafeEqual } from "node:crypto";

/** A forwarded call older (or, by clock skew, newer) than this is treated as a client's. */
const freshSeconds = 300;

function signature(secret: string, deploymentId: string, at: number, method: string, url: string): string {
  return createHmac("sha256", secret).update(`slipway-forwarded\n${deploymentId}\n${at}\n${method}\n${url}`).digest("base64url");
}

/** The header's value for a call to this deployment (method and URL as sent on). */
export function signForwardedCall(secret: string, deploymentId: string, method: string, url: string, now = Date.now()): string {
  const at = Math.floor(now / 1000);
  return `${deploymentId}.${at}.${signature(secret, deploymentId, at, method, url)}`;
}

/** The deployment a valid header names; null for a missing, stale or forged one. */
export function verifyForwardedCall(secret: string, value: string | string[] | undefined, method: string, url: string, now = Date.now()): string | null {
  if (typeof value !== "string") return null;
  const match = /^([0-9a-f-]{36})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!match) return null;
  const [, deploymentId, atText, given] = match as unknown as [string, string, string, string];
  const at = Number(atText);
  if (Math.abs(now / 1000 - at) > freshSeconds) return null;
  const expected = Buffer.from(signature(secret, deploymentId, at, method, url));
  const actual = Buffer.from(given);
  return expected.length === actual.length && timingSafeEqual(expected, actual) ? deploymentId : null;
}
