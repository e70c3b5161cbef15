// Owns the local webhook relay: with WEBHOOK_PROXY_URL set (a smee.io-style channel), GitHub
// posts webhooks to the channel and this forwards each one, headers and all, to the app's
// own webhook endpoint, so a laptop GitHub cannot reach still gets them. The signature is
// checked by the endpoint as for any delivery.
import type { Logger } from "pino";
import { SmeeClient } from "smee-client";

export type WebhookRelay = { close(): Promise<void> };

export async function relayWebhooks(channelUrl: string, targetUrl: string, log: Logger): Promise<WebhookRelay> {
  const client = new SmeeClient({
    source: channelUrl,
    target: targetUrl,
    // smee-client's own lines are per delivery; they belong at debug level.
    logger: {
      info: (...args: unknown[]) => log.debug({ relay: args.map(String).join(" ") }, "webhook relayed"),
      error: (...args: unknown[]) => log.warn({ relay: args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ") }, "webhook relay trouble"),
    },
  });
  await client.start();
  log.info({ channel: channelUrl, target: targetUrl }, "relaying webhooks from WEBHOOK_PROXY_URL");
  return { close: () => client.stop() };
}
