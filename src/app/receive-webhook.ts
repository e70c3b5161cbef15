// Owns the webhook endpoint's HTTP side, as GitHub's best practice for webhooks describes it:
// take the delivery, store it, answer at once, and leave the work to the inbox's consumers.
// A body over GitHub's own 25 MB cap is refused before it is read (413); the signature
// (x-hub-signature-256, HMAC-SHA256 with the app's webhook secret) is computed while the body
// streams in, and a delivery that fails it is refused (401) and never stored or logged. A
// stored delivery, or one stored before (GitHub's redelivery), is answered 202.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { webhookDeliveries } from "../metrics/metrics.js";
import type { Database } from "../store/create-database.js";
import { recordDelivery } from "../store/webhook-deliveries.js";

/** GitHub caps a webhook payload at 25 MB and does not send larger ones. */
export const maxWebhookBytes = 25 * 1024 * 1024;

export type WebhookReceiverDependencies = {
  db: Database;
  secret: string;
  log: Logger;
  /** Called once a new delivery is stored. */
  onStored(): void;
  maxBytes?: number;
};

type Refusal = { status: number; message: string };

const answer = (res: ServerResponse, status: number, body: Record<string, unknown>) => {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
};

// Deliveries of one repository are handled in the order they came; others need no order.
function orderKeyOf(payload: unknown): string | null {
  const repositoryId = (payload as { repository?: { id?: unknown } }).repository?.id;
  return typeof repositoryId === "number" ? `repository:${repositoryId}` : null;
}

function signatureMatches(secret: string, body: Buffer, header: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(body).digest("hex")}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Reads the body up to `maxBytes`; a longer one is refused as soon as it is known to be. */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | Refusal> {
  const tooLarge = { status: 413, message: `a webhook body may be at most ${maxBytes} bytes` };
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > maxBytes) return Promise.resolve(tooLarge);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.removeAllListeners("data");
        req.resume();
        resolve(tooLarge);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export function createWebhookReceiver(deps: WebhookReceiverDependencies) {
  const maxBytes = deps.maxBytes ?? maxWebhookBytes;
  const log = deps.log.child({ module: "webhook-receiver" });

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const event = req.headers["x-github-event"];
    const deliveryId = req.headers["x-github-delivery"];
    const signature = req.headers["x-hub-signature-256"];
    if (typeof event !== "string" || typeof deliveryId !== "string" || !event || !deliveryId) {
      req.resume();
      return answer(res, 400, { error: "x-github-event and x-github-delivery are required" });
    }
    if (typeof signature !== "string" || !signature) {
      req.resume();
      return answer(res, 401, { error: "x-hub-signature-256 is required" });
    }
    const body = await readBody(req, maxBytes).catch(() => null);
    if (body === null) return answer(res, 400, { error: "the body could not be read" });
    if (!Buffer.isBuffer(body)) {
      log.warn({ deliveryId, event, status: body.status }, "webhook refused: too large");
      res.setHeader("connection", "close");
      return answer(res, body.status, { error: body.message });
    }
    if (!signatureMatches(deps.secret, body, signature)) {
      log.warn({ deliveryId, event }, "webhook refused: its signature does not match the webhook secret");
      return answer(res, 401, { error: "the signature does not match" });
    }
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString("utf8"));
    } catch {
      return answer(res, 400, { error: "the body is not JSON" });
    }
    if (payload === null || typeof payload !== "object") return answer(res, 400, { error: "the body is not a JSON object" });
    const action = (payload as { action?: unknown }).action;
    try {
      const stored = await recordDelivery(deps.db, {
        id: deliveryId,
        event,
        action: typeof action === "string" ? action : null,
        orderKey: orderKeyOf(payload),
        payload: body.toString("utf8"),
      });
      if (stored !== "duplicate") deps.onStored();
      else webhookDeliveries.inc({ event, outcome: "duplicate" });
    } catch (error) {
      // Not stored: GitHub is told so, and its redelivery can bring it again.
      log.error({ deliveryId, event, err: { message: (error as Error).message } }, "could not store a webhook delivery");
      return answer(res, 503, { error: "the delivery could not be stored; redeliver it" });
    }
    answer(res, 202, { ok: true });
  };
}
