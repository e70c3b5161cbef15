// Owns forwarding a function-URL call to the gateway node that runs the function (placement,
// create-route-table.ts): the request goes on as the client sent it, body streamed, with a
// signed x-slipway-forwarded header (forwarded-call.ts) so that node serves it itself, and
// its answer streams back unchanged. Only the gateway's Node process forwards: nginx hands
// it every call it has no route file for, and a route that runs elsewhere has none.
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import type { Agent } from "undici";
import { forwardedCallHeader, hopByHopHeaders } from "../runtime-contract/call-contract.js";
import { signForwardedCall } from "./forwarded-call.js";
import type { GatewayPeer } from "./create-route-table.js";
import { HttpError } from "./http-error.js";
import { bodyTooLarge, limitBody } from "./limit-body.js";

/** The node could not be reached and nothing of the call was sent to it: the call may be served elsewhere. */
export class NodeUnreachable extends Error {}

// Errors of connecting: the call never reached the node.
const unreachableCodes = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT"]);
// A connection closed under the call (a kept-alive one to a node that has died, say): it may
// have reached the node, so, as nginx's proxy_next_upstream does, only an idempotent call
// goes elsewhere; any other would risk running twice.
const closedCodes = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET"]);
const idempotentMethods = new Set(["GET", "HEAD", "OPTIONS"]);

export async function forwardToNode(
  agent: Agent,
  req: IncomingMessage,
  res: ServerResponse,
  options: { node: GatewayPeer; deploymentId: string; secret: string; maxRequestBytes: number; timeoutMs: number },
): Promise<void> {
  const method = req.method ?? "GET";
  const url = req.url ?? "/";
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name === forwardedCallHeader || (hopByHopHeaders.has(name) && name !== "host" && name !== "content-length")) continue;
    headers[name] = value;
  }
  headers[forwardedCallHeader] = signForwardedCall(options.secret, options.deploymentId, method, url);
  const hasBody = method !== "GET" && method !== "HEAD";
  try {
    await agent.stream(
      {
        origin: options.node.url,
        path: url,
        method: method as "GET",
        headers,
        body: hasBody ? (req.headers["content-length"] === undefined ? Readable.from(limitBody(req, options.maxRequestBytes)) : req) : null,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      },
      ({ statusCode, headers: answer }) => {
        const out: Record<string, string | string[]> = {};
        for (const name in answer) {
          const value = answer[name];
          if (value === undefined || (hopByHopHeaders.has(name) && name !== "content-length")) continue;
          out[name] = value;
        }
        res.writeHead(statusCode, out);
        return res;
      },
    );
  } catch (error) {
    const tooLarge = bodyTooLarge(error);
    if (tooLarge && !res.headersSent) throw new HttpError(413, tooLarge.message);
    // Part of the answer is out already: cut it short rather than append an error to it.
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // Refused before the request body was touched (the node or its host is down): the caller
    // may serve the call itself, as the node would have.
    const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code;
    const retryable = code !== undefined && (unreachableCodes.has(code) || (closedCodes.has(code) && idempotentMethods.has(method)));
    if (retryable && !req.readableDidRead) throw new NodeUnreachable(`${options.node.id} at ${options.node.url}: ${code}`);
    throw new HttpError(
      502,
      `the gateway node that runs this function (${options.node.id} at ${options.node.url}) did not answer: ${(error as Error).message}; another node takes the function over once that node's heartbeat is older than SLIPWAY_GATEWAY_NODE_TTL_SECONDS`,
    );
  }
}
