// Owns the Node proxy's call to a runtime (a function URL or /d/ URL this node runs): the
// call begins through the executions module (permission, execution record, the open-runtimes
// contract's headers), the body streams to the runtime and the answer back, a late bare 500
// is the function's timeout, and a runtime that does not answer is forgotten so the next
// call starts it again. nginx makes the same call itself for the routes it has a file for.
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable, Writable } from "node:stream";
import type { Agent } from "undici";
import type { CallRoute, FunctionCall } from "../executions/create-gateway-executions.js";
import { backstopMs, hopByHopHeaders, isRuntimeOnlyResponseHeader, logIdHeader } from "../runtime-contract/call-contract.js";
import { HttpError } from "./http-error.js";
import { bodyTooLarge, limitBody } from "./limit-body.js";
import type { RunningRuntime } from "./runtime-containers.js";

/** The gateway's own answer when a function ran past its timeout. */
function sendTimeout(res: ServerResponse, executionId: string, seconds: number): void {
  res.writeHead(504, { "content-type": "application/json", "x-slipway-execution-id": executionId });
  res.end(JSON.stringify({ error: `the function exceeded its ${seconds} s timeout` }));
}

function discardBody(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

export function createRuntimeProxy(deps: {
  agent: Agent;
  maxRequestBytes: number;
  beginCall(req: IncomingMessage, route: CallRoute, path: string): Promise<FunctionCall>;
  forgetRuntime(deploymentId: string): void;
}) {
  return async function forward(req: IncomingMessage, res: ServerResponse, route: CallRoute & { runtime: RunningRuntime }, path: string): Promise<void> {
    const call = await deps.beginCall(req, route, path);
    if (call.refused) throw new HttpError(call.status, call.message);
    const headers = call.headers;
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const timeoutMs = call.timeoutSeconds * 1000;
    const sentAt = performance.now();
    let timedOut = false;
    try {
      // stream() hands the upstream body straight to the client's response: no
      // intermediate stream object or pipeline per request on this hot path.
      let statusCode = 502;
      let logId: string | string[] | undefined;
      await deps.agent.stream(
        {
          origin: route.runtime.baseUrl,
          path,
          method: (req.method ?? "GET") as "GET",
          headers,
          // A declared length was checked before the call began; only a chunked body is counted.
          body: hasBody ? (req.headers["content-length"] === undefined ? Readable.from(limitBody(req, deps.maxRequestBytes)) : req) : null,
          // The runtime enforces the timeout; these only catch a runtime that does not.
          headersTimeout: backstopMs(call.timeoutSeconds),
          bodyTimeout: backstopMs(call.timeoutSeconds),
        },
        ({ statusCode: status, headers: upstreamHeaders }) => {
          statusCode = status;
          logId = upstreamHeaders[logIdHeader];
          // A runtime that stops a function at its timeout answers a bare 500 (and says so
          // only in the errors log). No answer of the function's own comes that late, as
          // the runtime would have stopped it, so a 500 after the timeout is a timeout.
          if (status === 500 && performance.now() - sentAt >= timeoutMs) {
            timedOut = true;
            sendTimeout(res, call.executionId, call.timeoutSeconds);
            return discardBody();
          }
          const outHeaders: Record<string, string | string[]> = {};
          for (const name in upstreamHeaders) {
            const value = upstreamHeaders[name];
            if (value === undefined || hopByHopHeaders.has(name) || isRuntimeOnlyResponseHeader(name)) continue;
            outHeaders[name] = value;
          }
          outHeaders["x-slipway-execution-id"] = call.executionId;
          res.writeHead(status, outHeaders);
          return res;
        },
      );
      call.finish(timedOut ? 504 : statusCode, logId, timedOut);
    } catch (error) {
      const tooLarge = bodyTooLarge(error);
      if (tooLarge && !res.headersSent) {
        call.fail(tooLarge, false);
        throw new HttpError(413, tooLarge.message);
      }
      const name = (error as Error).name;
      timedOut ||= name === "HeadersTimeoutError" || name === "BodyTimeoutError";
      call.fail(error, timedOut);
      // The container may have died; the next request starts it again.
      deps.forgetRuntime(route.deploymentId);
      // Part of the answer is out already: cut it short rather than append an error to it.
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (timedOut) return sendTimeout(res, call.executionId, call.timeoutSeconds);
      throw new HttpError(502, `the function did not answer: ${(error as Error).message}`);
    }
  };
}
