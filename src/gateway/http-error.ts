// Owns the gateway's error with an HTTP status: thrown anywhere while a request is handled,
// answered by the gateway's server with that status and the message.
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}
