import { inspect } from "node:util";

export interface WaitForOptions {
  /** Give up after this long (default 5000 ms). */
  timeoutMs?: number;
  /** Poll interval (default 25 ms). */
  intervalMs?: number;
  /** What is being waited for, used in the timeout message. */
  message?: string;
  /** Extra context appended to the timeout message (evaluated only on timeout). */
  describe?: () => string;
}

/**
 * Polls `fn` until it returns a truthy value and resolves with that value. Errors thrown by
 * `fn` count as "not yet". On timeout, rejects with the last value / last error and any
 * context from `describe()`.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, options: WaitForOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let lastValue: unknown;
  let lastError: unknown;
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
      lastValue = value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
  const lines = [
    `waitFor timed out after ${timeoutMs} ms (${attempts} attempts)${options.message ? `: ${options.message}` : ""}`,
    lastError !== undefined
      ? `last error: ${lastError instanceof Error ? (lastError.stack ?? lastError.message) : inspect(lastError)}`
      : `last value: ${inspect(lastValue, { depth: 4 })}`,
  ];
  const extra = options.describe?.();
  if (extra) lines.push(extra);
  throw new Error(lines.join("\n"));
}
