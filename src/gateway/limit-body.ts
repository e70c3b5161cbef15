// Owns the request-size limit of a function call whose body has no declared length
// (chunked): the body is passed on as it comes, and cut off with BodyTooLarge at the limit.
export class BodyTooLarge extends Error {
  constructor(readonly maxBytes: number) {
    super(`the request body is larger than ${Math.round(maxBytes / 1024 / 1024)} MB (SLIPWAY_MAX_REQUEST_MB)`);
  }
}

export async function* limitBody(body: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<Buffer> {
  let received = 0;
  for await (const chunk of body) {
    received += chunk.length;
    if (received > maxBytes) throw new BodyTooLarge(maxBytes);
    yield chunk;
  }
}

/** The BodyTooLarge behind an error the HTTP client raised while sending the body, if any. */
export function bodyTooLarge(error: unknown): BodyTooLarge | null {
  for (let cause: unknown = error; cause; cause = (cause as { cause?: unknown }).cause) if (cause instanceof BodyTooLarge) return cause;
  return null;
}
